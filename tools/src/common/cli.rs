//! What every program's `main` shares: running the body and turning an error into one line on
//! stderr with exit status 1 (clap already exits 2 on usage errors), and knowing whether it was
//! started as `memray <cmd>` (Memray's exact behaviour) or directly as `memray-<cmd>`, and
//! parsing the command line ([`parse`]).

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

/// The command line, parsed. A usage error exits 2 with the usage line (clap's message); an
/// unknown option under `memray <cmd>` ends as Memray's (argparse's, whose top-level parser
/// reports a subcommand's leftovers) does: `usage: memray stats …`, then
/// `memray: error: unrecognized arguments: --bogus`.
pub fn parse<T: clap::Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(e) => {
            if memray_compat() && e.kind() == clap::error::ErrorKind::UnknownArgument {
                if let Some((usage, arg)) = unknown_argument(&e) {
                    eprintln!("usage: {usage}");
                    eprintln!("memray: error: unrecognized arguments: {arg}");
                    std::process::exit(2);
                }
            }
            e.exit()
        }
    }
}

/// The usage line (`memray stats [OPTIONS] <RESULTS>`, as `memray <cmd>` names it) and the
/// unknown argument of a clap error.
fn unknown_argument(e: &clap::Error) -> Option<(String, String)> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let text = e.render().to_string();
    let usage = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))?;
    let usage = match usage.strip_prefix("memray-") {
        Some(rest) => format!("memray {}", rest.strip_prefix("capture ").unwrap_or(rest)),
        None => usage.to_string(),
    };
    Some((usage, arg.clone()))
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
