//! The `sp-entrypoint` binary: everything lives in the library; this maps it to an exit code.

/// The allocator: a 1 MiB bump arena in `.bss` (no system calls; a bootstrap uses ~170 KiB
/// over HTTP, ~220 KiB over HTTPS), spilling over to musl's allocator; see
/// [`sp_entrypoint::arena`] and BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: sp_entrypoint::arena::Arena<{ 1 << 20 }> = sp_entrypoint::arena::Arena::new();

fn main() -> std::process::ExitCode {
    sp_entrypoint::install_panic_hook();
    std::process::ExitCode::from(sp_entrypoint::main_entry(
        &std::env::args_os().collect::<Vec<_>>(),
    ))
}
