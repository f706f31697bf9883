//! `memray`: the dispatcher. `memray <cmd> ARGS` runs `memray-<cmd> ARGS`, found beside this
//! program or on `PATH` (`memray run` runs `memray-capture run`), like git and cargo plugins,
//! with `MEMRAY_COMPAT=1` (Memray's exact behaviour). [`args`] describes its command line for
//! the man page, [`programs`] finds the programs.

pub mod args;
pub mod programs;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use programs::{find_program, installed_commands, CAPTURE_COMMANDS};

const ABOUT: &str = "Memory profiler for Python applications

Run `memray run` to generate a memory profile report, then use a reporter command
such as `memray flamegraph` or `memray table` to convert the results into HTML.

Example:

    $ memray run -o output.bin my_script.py
    $ memray flamegraph output.bin";

const USAGE_LINE: &str = "usage: memray [-h] [-V] <command> [args...]";

fn usage(commands: &[(String, PathBuf)]) -> String {
    let mut s = format!("{USAGE_LINE}\n\n{ABOUT}\n\ncommands:\n");
    for (name, _) in commands {
        s.push_str(&format!("    {name}\n"));
    }
    if commands.is_empty() {
        s.push_str("    (no memray-* programs found beside memray or on PATH)\n");
    }
    s.push_str(
        "\noptions:\n  -h, --help     show this help message and exit\n  -V, --version  Displays the current version of memray\n\nRun `memray <command> --help` for a command's options.",
    );
    s
}

/// The program, given its arguments (without its own name): replaced by the program it runs,
/// or exit status 0 (help, version), 2 (no or unknown command), 1 (could not run it).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let Some(first) = args.first().and_then(|a| a.to_str()) else {
        eprintln!("{}", usage(&installed_commands()));
        eprintln!("memray: error: the following arguments are required: command");
        return ExitCode::from(2);
    };
    if first.starts_with('-') && !matches!(first, "-h" | "--help" | "-V" | "--version") {
        eprintln!("{USAGE_LINE}");
        eprintln!("memray: error: unrecognized arguments: {first}");
        return ExitCode::from(2);
    }
    match first {
        "-h" | "--help" => {
            println!("{}", usage(&installed_commands()));
            return ExitCode::SUCCESS;
        }
        "-V" | "--version" => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let (program, rest): (String, Vec<OsString>) = if CAPTURE_COMMANDS.contains(&first) {
        ("capture".into(), args.clone())
    } else {
        (first.to_string(), args[1..].to_vec())
    };
    let Some(path) = find_program(&program) else {
        eprintln!("{USAGE_LINE}");
        eprintln!(
            "memray: error: unknown command '{first}' (no memray-{program} beside memray or on PATH)"
        );
        return ExitCode::from(2);
    };
    let err = Command::new(&path)
        .args(&rest)
        .env("MEMRAY_COMPAT", "1")
        .exec();
    eprintln!("memray: could not run {}: {err}", path.display());
    ExitCode::from(1)
}
