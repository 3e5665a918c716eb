//! Build script: links the static musl release binary without unwind tables.
//!
//! The release profile aborts on panic (the panic hook prints one line and exits 70 first), so
//! nothing ever unwinds, yet the prebuilt standard library brings `.eh_frame` and
//! `.eh_frame_hdr` along: ~300 KB of a ~2.6 MB binary (BENCHMARKS.md). For the musl targets in
//! release-based profiles only, the `sp-entrypoint` binary (not the tests, which unwind to
//! report failures) is linked with a linker-script fragment that discards them. The C runtime's
//! `crtbegin*.o` / `crtend*.o` keep theirs (their frame registration refers to them). A panic
//! still prints its line and exits 70: the hook runs before the abort, and nothing unwinds.

use std::env;
use std::fs;
use std::path::PathBuf;

/// The fragment: inserted after `.text` in the linker's default script (`INSERT` keeps it).
const NO_EH_FRAME: &str = "\
SECTIONS { /DISCARD/ : { EXCLUDE_FILE(*crtbegin*.o *crtend*.o) *(.eh_frame) } } INSERT AFTER .text;
";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let musl = env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "musl");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let (Some(out), true) = (env::var_os("OUT_DIR"), musl && release) else {
        return;
    };
    let script = PathBuf::from(out).join("no-eh-frame.ld");
    if let Err(e) = fs::write(&script, NO_EH_FRAME) {
        // Not fatal: the binary is then only bigger.
        println!("cargo:warning=cannot write {}: {e}", script.display());
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
}
