//! Reading the files that variables name (the `_FILE` secrets, `SSL_CERT_FILE`): regular files
//! only, opened without blocking, and never more than their limit plus one byte read.
//!
//! A FIFO with no writer (or `/dev/stdin` under `docker run -i`) would block the bootstrap
//! forever, and `/dev/zero` or a large sparse file would be read into memory until the kernel
//! kills the container. So the path is checked before it is opened (a device is never opened
//! at all), opened with `O_NONBLOCK | O_NOCTTY` (a FIFO swapped in meanwhile does not block,
//! a terminal does not become ours), checked again on the open descriptor, refused unread when
//! its size is over the limit, and read through a `take(limit + 1)`: a file one byte over the
//! limit is refused, whatever its size claimed.
//! Docker and Kubernetes mount secrets as regular files (Kubernetes through a symlink, which is
//! followed), so nothing else is accepted.

use std::fmt;
use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::OFlag;

/// The limit of a `_FILE` secret: a token is at most 16 KiB, an email 254 bytes.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

/// The limit of `SSL_CERT_FILE`: larger is not a certificate bundle (Mozilla's whole set is
/// ~220 KB).
pub const MAX_CA_BUNDLE: u64 = 16 * 1024 * 1024;

/// Why a file could not be used.
#[derive(Debug)]
pub enum InputError {
    /// Not a regular file; what it is instead (`"a FIFO"`, `"a directory"`...).
    NotRegular(&'static str),
    /// More than the limit (in bytes).
    TooLarge(u64),
    /// The OS refused (missing, permissions...).
    Io(std::io::Error),
}

impl std::error::Error for InputError {}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NotRegular(kind) => write!(
                f,
                "it is {kind}, not a regular file (a FIFO, socket or device can block or never end)"
            ),
            InputError::TooLarge(limit) => write!(f, "it is larger than {}", size(*limit)),
            InputError::Io(e) => write!(f, "cannot read it ({e})"),
        }
    }
}

/// `n` bytes for humans: `64 KiB`, `16 MiB`, `300 bytes`.
fn size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// What a file type is, when it is not a regular file.
fn kind(t: FileType) -> Option<&'static str> {
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a file"
    })
}

/// The contents of the regular file at `path` (symlinks followed), at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    // Before opening: a device is never opened (opening some has effects of its own).
    let meta = std::fs::metadata(path).map_err(InputError::Io)?;
    if let Some(k) = kind(meta.file_type()) {
        return Err(InputError::NotRegular(k));
    }
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(path)
        .map_err(InputError::Io)?;
    // And on the descriptor: the path may have been swapped since.
    let meta = file.metadata().map_err(InputError::Io)?;
    if let Some(k) = kind(meta.file_type()) {
        return Err(InputError::NotRegular(k));
    }
    // A size over the limit is refused unread; a size that lies (a file growing meanwhile, a
    // /proc file showing 0) is caught by reading no more than the limit plus one byte.
    if meta.len() > limit {
        return Err(InputError::TooLarge(limit));
    }
    let cap = usize::try_from(meta.len().saturating_add(1)).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(cap);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(InputError::Io)?;
    if bytes.len() as u64 > limit {
        bytes.fill(0);
        return Err(InputError::TooLarge(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sp-input-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_regular_file_within_its_limit_is_read_whole() {
        let d = dir("ok");
        let p = d.join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read_bounded(&p, 5).unwrap(), b"hello");
        assert!(matches!(read_bounded(&p, 4), Err(InputError::TooLarge(4))));
        // Through a symlink, as Kubernetes mounts secrets.
        let link = d.join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert_eq!(read_bounded(&link, 64).unwrap(), b"hello");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_sparse_file_over_its_limit_is_refused_unread() {
        let d = dir("sparse");
        let p = d.join("sparse");
        File::create(&p).unwrap().set_len(1 << 40).unwrap();
        let e = read_bounded(&p, 64 * 1024).unwrap_err();
        assert_eq!(e.to_string(), "it is larger than 64 KiB");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let d = dir("kinds");
        let fifo = d.join("fifo");
        nix::unistd::mkfifo(
            &fifo,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .unwrap();
        let e = read_bounded(&fifo, 1024).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("it is a FIFO (named pipe), not a regular file"),
            "{e}"
        );
        let e = read_bounded(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(e.to_string().starts_with("it is a character device"), "{e}");
        let e = read_bounded(&d, 1024).unwrap_err();
        assert!(e.to_string().starts_with("it is a directory"), "{e}");
        let e = read_bounded(&d.join("missing"), 1024).unwrap_err();
        assert!(e.to_string().starts_with("cannot read it ("), "{e}");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_file_whose_size_says_nothing_is_still_cut_at_its_limit() {
        // /proc files are regular files of size 0 whatever they hold.
        let status = Path::new("/proc/self/status");
        assert!(read_bounded(status, 1 << 20).unwrap().starts_with(b"Name:"));
        assert!(matches!(
            read_bounded(status, 16),
            Err(InputError::TooLarge(16))
        ));
    }

    #[test]
    fn sizes_read_as_units() {
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(300), "300 bytes");
    }
}
