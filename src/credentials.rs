//! The credentials, in memory, with exactly the schema of `.systemprompt/credentials.json`, and
//! the one way to write them to disk: mode 0600 from creation, atomically, never through a symlink,
//! never over something that is not a regular file (a FIFO, a device such as `/dev/null`).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::error::Error;
use crate::timefmt;
use crate::token::{self, Secret};

/// The credentials as the SystemPrompt CLI reads them. `Serialize` gives the file's exact schema;
/// `Debug` redacts the token (it is a [`Secret`]).
#[derive(Debug, Serialize)]
pub struct Credentials {
    /// The API token, serialised in clear by [`Secret`]'s own `Serialize` (the one place a
    /// secret is serialised; only ever into the 0600 file).
    pub api_token: Secret,
    /// The API endpoint.
    pub api_url: String,
    /// Login time, RFC 3339 UTC: the token's `iat` when it is a sane past instant, otherwise
    /// the time of the bootstrap ([`crate::token::login_time`]).
    pub authenticated_at: String,
    /// The account email: the server's `user.email` after a successful whoami (as the app's own
    /// login writes it), else the configured one.
    pub user_email: String,
    /// When whoami last succeeded, RFC 3339 UTC; `null` when it was not validated, or when the
    /// app would not have parsed the answer. A recent value lets the app skip its own whoami.
    pub last_validated_at: Option<String>,
}

/// What a successful whoami adds to the credentials.
#[derive(Debug, Clone, Copy)]
pub struct Proven<'a> {
    /// The server's `user.email`.
    pub email: &'a str,
    /// When it succeeded, only when the app would also have parsed the answer (seconds since
    /// the epoch); `None` withholds `last_validated_at`.
    pub validated_at: Option<u64>,
}

impl Credentials {
    /// The credentials of `cfg` at `now`: `authenticated_at` is the token's `iat` when it is a
    /// sane past instant, else `now`. After a successful whoami (`proven`), the server's email
    /// and, when given, `last_validated_at`; without one (the escape hatch), the configured
    /// email and no `last_validated_at`.
    pub fn new(cfg: &Config, now: u64, proven: Option<Proven<'_>>) -> Credentials {
        Credentials {
            api_token: Secret::new(cfg.token.expose().to_owned()),
            api_url: cfg.api_url.clone(),
            authenticated_at: timefmt::rfc3339(token::login_time(&cfg.claims, now)),
            user_email: proven.map_or_else(|| cfg.email.clone(), |p| p.email.to_owned()),
            last_validated_at: proven.and_then(|p| p.validated_at).map(timefmt::rfc3339),
        }
    }

    /// The file's contents: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        // Serialising plain strings cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Write the file at `path` atomically with mode 0600: a temporary file in the same
    /// directory (created 0600, exclusively, not following links), fsync, rename over `path`,
    /// fsync the directory. Refuses when `path` is a symlink. Creates missing parent
    /// directories (0700) and drops a `.gitignore` of `*` beside the file, as the CLI does.
    pub fn write_atomic(&self, path: &Path) -> Result<(), Error> {
        write_atomic(path, self.to_json().as_bytes()).map_err(|reason| Error::WriteCredentials {
            path: path.to_path_buf(),
            reason,
        })
    }
}

fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), String> {
    let name = path.file_name().ok_or("the path names no file")?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err("it is a symbolic link; refusing to write through it".into());
        }
        Ok(m) if m.is_dir() => return Err("it is a directory".into()),
        // A FIFO, a device (`/dev/null`), a socket: the rename would silently replace it
        // with a regular file holding the token. Refused, and left as it is.
        Ok(m) if !m.file_type().is_file() => {
            return Err(format!(
                "it exists and is {}, not a regular file; refusing to replace it",
                kind(m.file_type())
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.to_string()),
    }
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        // Best effort: the credentials matter, the .gitignore is a courtesy.
        let _ = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&gitignore)
            .and_then(|mut f| f.write_all(b"*\n"));
    }
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{:x}",
        name.to_string_lossy(),
        std::process::id(),
        unique()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename durable; a directory that cannot be opened or synced is not an error.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok::<(), io::Error>(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e.to_string());
    }
    Ok(())
}

/// What a non-regular file is, for the message.
fn kind(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// A per-call unique number for temporary names (two entrypoints, or two threads, never collide).
fn unique() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds() -> Credentials {
        Credentials {
            api_token: Secret::new("sp_live_aaa.bbb.ccc".into()),
            api_url: "https://api.systemprompt.io".into(),
            authenticated_at: "2026-02-01T10:00:00Z".into(),
            user_email: "user@example.com".into(),
            last_validated_at: Some("2026-02-01T10:00:03Z".into()),
        }
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "sp-creds-{tag}-{}-{:x}",
            std::process::id(),
            unique()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn schema_is_exactly_the_credentials_json_one() {
        let json = creds().to_json();
        // The keys in the file's order (a serde_json Value would sort them).
        let keys: Vec<_> = json
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        assert_eq!(
            keys,
            [
                "api_token",
                "api_url",
                "authenticated_at",
                "user_email",
                "last_validated_at"
            ]
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["api_token"], "sp_live_aaa.bbb.ccc");
        let unvalidated = Credentials {
            last_validated_at: None,
            ..creds()
        };
        let v: serde_json::Value = serde_json::from_str(&unvalidated.to_json()).unwrap();
        assert!(v["last_validated_at"].is_null());
    }

    #[test]
    fn debug_redacts_the_token() {
        let d = format!("{:?}", creds());
        assert!(!d.contains("aaa.bbb"), "{d}");
        assert!(d.contains("user@example.com"));
    }

    #[test]
    fn writes_0600_atomically_and_replaces() {
        let dir = tempdir("w");
        let path = dir.join("a/b/credentials.json");
        creds().write_atomic(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            fs::read_to_string(dir.join("a/b/.gitignore")).unwrap(),
            "*\n"
        );
        let mut c = creds();
        c.user_email = "other@example.com".into();
        c.write_atomic(&path).unwrap();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .contains("other@example.com")
        );
        // No temporary file is left behind.
        let left: Vec<_> = fs::read_dir(dir.join("a/b"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_non_regular_targets_and_leaves_them() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempdir("n");
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = creds().write_atomic(&fifo).unwrap_err();
        assert_eq!(err.code(), 73);
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        let err = creds().write_atomic(Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        assert!(
            fs::symlink_metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_a_symlink() {
        let dir = tempdir("l");
        let target = dir.join("elsewhere");
        fs::write(&target, "keep").unwrap();
        let link = dir.join("credentials.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = creds().write_atomic(&link).unwrap_err();
        assert_eq!(err.code(), 73);
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        fs::remove_dir_all(dir).unwrap();
    }
}
