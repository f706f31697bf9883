//! What every program's `main` shares: running the body and turning an error into one line on
//! stderr with exit status 1 (clap already exits 2 on usage errors), and knowing whether it was
//! started as `memray <cmd>` (Memray's exact behaviour) or directly as `memray-<cmd>`.

use std::process::ExitCode;

/// Runs `body`; on error prints `<program>: <message>` (causes joined with `: `) and exits 1.
pub fn run(program: &str, body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    // A closed stdout (`| head`) must end the program quietly, not panic.
    reset_sigpipe();
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("{program}: {msg}");
            ExitCode::from(1)
        }
    }
}

/// True when the program was started as `memray <cmd>` or `python -m memray <cmd>`, which
/// promise Memray's exact behaviour; false when run directly as `memray-<cmd>`.
pub fn memray_compat() -> bool {
    std::env::var_os("MEMRAY_COMPAT").is_some_and(|v| v == "1")
}

fn reset_sigpipe() {
    // SAFETY: restoring the default disposition of SIGPIPE is async-signal-safe and done
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
