//! The settings: declared once each in [`spec`], read from the environment and the command
//! line in [`source`], checked by the pure [`validate`] functions, and assembled by [`load`]
//! into the logging settings and a typed [`Config`]. Reports every problem in one run. No
//! network I/O.

mod load;
pub mod source;
pub mod spec;
pub mod validate;

#[cfg(test)]
mod tests;

pub use load::{Config, FlyContext, InitMode, Loaded, LogFormat, LogSettings, load};
pub use source::CliValues;
/// The settings by variable, e.g. `vars::API_TOKEN.var` (an alias of [`spec`]).
pub use spec as vars;
pub use spec::{
    DEFAULT_API_URL, DEFAULT_GRACE, DEFAULT_WHOAMI_TIMEOUT, MAX_GRACE, MAX_WHOAMI_TIMEOUT,
};
pub use validate::{parse_bool, parse_init_mode, parse_seconds, validate_api_url, validate_email};
