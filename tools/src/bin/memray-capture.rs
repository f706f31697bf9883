//! `memray-capture run` (also `memray run`): runs a Python program under the tracker. The
//! command line is parsed here; the program then runs in the chosen interpreter through
//! `python -m memray.commands.run`, which replaces this process (same pid, same stdio, the
//! program's exit status).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Result};
use clap::Parser;
use memray_tools::args::capture::{Cli, Cmd, RunArgs};

/// The interpreter to run: the one `python -m memray` was started with, else the one beside
/// this program (its virtualenv), else the active virtualenv's, else `python3` on PATH.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MEMRAY_PYTHON") {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(d);
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        dirs.push(PathBuf::from(v).join("bin"));
    }
    for d in dirs {
        for name in ["python3", "python"] {
            let p = d.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from("python3")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Cmd::Run(args) = cli.command;
    if args.live_port.is_some() && !args.live_remote {
        usage_error("The --live-port argument requires --live-remote");
    }
    if args.follow_fork && (args.live || args.live_remote) {
        usage_error("--follow-fork cannot be used with the live TUI");
    }
    if args.aggregate && (args.live || args.live_remote) {
        usage_error("--aggregate cannot be used with the live TUI");
    }
    if args.run_as_cmd && Path::new(&args.target[0]).exists() {
        usage_error("remove the option -c to run a file");
    }
    memray_tools::cli::run("memray run", || run(args))
}

fn usage_error(msg: &str) -> ! {
    eprintln!("usage: memray run [options] [-m module | -c cmd | file] [args]");
    eprintln!("memray run: error: {msg}");
    std::process::exit(2);
}

fn run(args: RunArgs) -> Result<()> {
    for (on, flag) in [
        (args.native, "--native"),
        (args.aggregate, "--aggregate"),
        (args.live, "--live"),
        (args.live_remote, "--live-remote"),
    ] {
        if on {
            bail!("{flag} is not supported by this version yet");
        }
    }
    let mode = if args.run_as_module {
        "module"
    } else if args.run_as_cmd {
        "code"
    } else {
        "file"
    };
    let mut flags = String::new();
    for (on, letter) in [
        (args.force, 'f'),
        (args.quiet, 'q'),
        (args.native, 'n'),
        (args.trace_python_allocators, 't'),
        (args.follow_fork, 'F'),
        (args.no_compress, 'z'),
    ] {
        if on {
            flags.push(letter);
        }
    }
    if flags.is_empty() {
        flags.push('-');
    }
    let mut command_line = vec!["memray".to_string()];
    command_line.extend(std::env::args().skip(1));
    let python = python();
    let err = Command::new(&python)
        .args(["-m", "memray.commands.run", &flags])
        .arg(args.output.as_deref().unwrap_or(""))
        .arg(mode)
        .args(&args.target)
        .env("MEMRAY_COMMAND_LINE", command_line.join(" "))
        .exec();
    bail!("could not run {}: {err}", python.display())
}
