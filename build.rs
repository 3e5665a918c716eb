//! Build script: embeds the git revision and the target triple for `--version`, and links the
//! static musl release binary without unwind tables.
//!
//! Reproducible by construction: no timestamp, no path, no host name goes into the binary. The
//! revision is `SP_ENTRYPOINT_REVISION` when set (a Docker build has no `.git`: the build
//! passes it in), else `git rev-parse --short=12 HEAD`, else `unknown` (a source tarball, or no
//! git installed). It names the commit checked out, not uncommitted edits.
//!
//! Unwind tables: the release profile aborts on panic (the panic hook prints one line and exits
//! 70 first), so nothing ever unwinds, yet the prebuilt standard library brings `.eh_frame` and
//! `.eh_frame_hdr` along: ~300 KB of a ~2.6 MB binary (BENCHMARKS.md). For the musl targets in
//! release-based profiles only, the `sp-entrypoint` binary (not the tests, which unwind to
//! report failures) is linked with a linker-script fragment that discards them. The C runtime's
//! `crtbegin*.o` / `crtend*.o` keep theirs (their frame registration refers to them). The
//! fragment's path is under `OUT_DIR`; the linker reads it, nothing of it enters the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The linker-script fragment: inserted after `.text` in the linker's default script (`INSERT`
/// keeps the default script).
const NO_EH_FRAME: &str = "\
SECTIONS { /DISCARD/ : { EXCLUDE_FILE(*crtbegin*.o *crtend*.o) *(.eh_frame) } } INSERT AFTER .text;
";

/// The longest revision kept (a full SHA-256 object name is 64 hex digits).
const MAX_REVISION: usize = 64;

fn main() {
    version_info();
    no_unwind_tables();
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

/// Link the musl release binary without `.eh_frame` / `.eh_frame_hdr` (see the module docs).
fn no_unwind_tables() {
    let musl = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "musl");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let (Some(out), true) = (std::env::var_os("OUT_DIR"), musl && release) else {
        return;
    };
    let script = PathBuf::from(out).join("no-eh-frame.ld");
    if let Err(e) = std::fs::write(&script, NO_EH_FRAME) {
        // Not fatal: the binary is then only bigger.
        println!("cargo::warning=cannot write {}: {e}", script.display());
        return;
    }
    println!("cargo::rustc-link-arg-bins=-Wl,-T,{}", script.display());
}
