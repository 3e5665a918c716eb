//! Build script: embeds the git revision and the target triple for `--version`.
//!
//! Reproducible by construction: no timestamp, no path, no host name goes into the binary. The
//! revision is `SP_ENTRYPOINT_REVISION` when set (a Docker build has no `.git`: the build
//! passes it in), else `git rev-parse --short=12 HEAD`, else `unknown` (a source tarball, or no
//! git installed). It names the commit checked out, not uncommitted edits.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The longest revision kept (a full SHA-256 object name is 64 hex digits).
const MAX_REVISION: usize = 64;

fn main() {
    version_info();
}

/// `SP_ENTRYPOINT_REVISION` and `SP_ENTRYPOINT_TARGET` for `--version` (see the module docs).
fn version_info() {
    println!("cargo::rerun-if-env-changed=SP_ENTRYPOINT_REVISION");
    let revision = std::env::var("SP_ENTRYPOINT_REVISION")
        .ok()
        .and_then(|r| clean(&r))
        .or_else(from_git)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=SP_ENTRYPOINT_REVISION={revision}");
    // TARGET is always set by cargo for build scripts.
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo::rustc-env=SP_ENTRYPOINT_TARGET={target}");
}

/// A revision as given, if it is one: letters, digits, `.`, `-`, `_`, `+`, at most
/// [`MAX_REVISION`] characters.
fn clean(raw: &str) -> Option<String> {
    let r = raw.trim();
    let ok = !r.is_empty()
        && r.len() <= MAX_REVISION
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    ok.then(|| r.to_owned())
}

/// `git rev-parse --short=12 HEAD` in the package directory, with rerun triggers on the files
/// that move when HEAD does (HEAD itself, the branch's loose ref, packed-refs).
fn from_git() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let s = String::from_utf8(out.stdout).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    let revision = clean(&git(&["rev-parse", "--short=12", "HEAD"])?)?;
    let absolute = |p: String| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { dir.join(p) }
    };
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(absolute) {
        watch(&git_dir.join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(absolute) {
        watch(&common.join("packed-refs"));
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let loose = common.join(&branch);
            if loose.exists() {
                watch(&loose);
            } else if let Some(dir) = loose.parent() {
                // Packed (after `git gc`): the next commit writes the loose ref in there.
                watch(dir);
            }
        }
    }
    Some(revision)
}

/// `rerun-if-changed` on `path` if it exists (a missing path would rerun this script, and
/// rebuild the crate, on every build).
fn watch(path: &Path) {
    if !path.exists() {
        return;
    }
    if let Some(p) = path.to_str() {
        println!("cargo::rerun-if-changed={p}");
    }
}
