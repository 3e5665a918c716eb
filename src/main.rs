//! The `sp-entrypoint` binary: everything lives in the library; this maps it to an exit code.

fn main() -> std::process::ExitCode {
    sp_entrypoint::install_panic_hook();
    std::process::ExitCode::from(sp_entrypoint::main_entry(
        &std::env::args_os().collect::<Vec<_>>(),
    ))
}
