//! `timefmt::parse_http_date` on arbitrary text, and the formatters on arbitrary numbers.
//!
//! Properties: no panic; what `rfc3339` writes up to the end of year 9999, an independent
//! RFC 3339 parser (the `time` crate) reads back as the same second; `human_duration` never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sp_entrypoint::timefmt::{MAX_RFC3339, human_duration, parse_http_date, rfc3339};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 8 {
        let mut n = [0u8; 8];
        n.copy_from_slice(&data[..8]);
        let secs = u64::from_le_bytes(n);
        let _ = human_duration(secs);
        let _ = rfc3339(secs);
        let bounded = secs % (MAX_RFC3339 + 1);
        let text = rfc3339(bounded);
        let parsed = OffsetDateTime::parse(&text, &Rfc3339).expect("RFC 3339");
        assert_eq!(
            u64::try_from(parsed.unix_timestamp()).ok(),
            Some(bounded),
            "{text}"
        );
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_http_date(s);
});
