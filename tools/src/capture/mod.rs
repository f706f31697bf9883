//! `memray-capture run` (also `memray run`): runs a Python program under the tracker. The
//! command line ([`args`]) is checked here; the program then runs in the chosen interpreter
//! through `python -m memray.commands.run`, which replaces this process (same pid, same stdio,
//! the program's exit status). With `--live` the program runs in a child instead, streaming to
//! a free loopback port, and the live view runs here in the foreground ([`tui`]).

pub mod args;
pub mod attach;
pub mod tui;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

use crate::common::cli;
pub use args::{Cli, Cmd, RunArgs};

/// The interpreter to run: the one `python -m memray` was started with, else the one beside
/// this program (its virtualenv), else the active virtualenv's, else `python3` on PATH.
pub(crate) fn python() -> PathBuf {
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

/// The program: runs the Python program in this process (or, with `--live`, in a child); its
/// usage errors exit 2 with Memray's two lines, a failure to start it 1 with one line.
pub fn main(args: Cli) -> ExitCode {
    let args = match args.command {
        Cmd::Run(args) => args,
        Cmd::Attach(args) => return cli::run("memray attach", || attach::attach(args)),
        Cmd::Detach(args) => return cli::run("memray detach", || attach::detach(args)),
    };
    if args.live_port.is_some() && !args.live_remote {
        usage_error("The --live-port argument requires --live-remote");
    }
    if args.follow_fork && (args.live || args.live_remote) {
        usage_error("--follow-fork cannot be used with the live TUI");
    }
    if args.follow_children && (args.live || args.live_remote) {
        usage_error("--follow-children cannot be used with the live TUI");
    }
    if args.aggregate && (args.live || args.live_remote) {
        usage_error("--aggregate cannot be used with the live TUI");
    }
    if args.run_as_cmd && Path::new(&args.target[0]).exists() {
        usage_error("remove the option -c to run a file");
    }
    cli::run("memray run", || run(args))
}

fn usage_error(msg: &str) -> ! {
    eprintln!("usage: memray run [options] [-m module | -c cmd | file] [args]");
    eprintln!("memray run: error: {msg}");
    std::process::exit(2);
}

fn run(args: RunArgs) -> Result<()> {
    let live_port = if args.live || args.live_remote {
        Some(match args.live_port {
            Some(p) => match crate::live::check_port(p) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            },
            None => tui::free_port()?,
        })
    } else {
        None
    };
    let mode = if args.run_as_module {
        "module"
    } else if args.run_as_cmd {
        "code"
    } else {
        "file"
    };
    let mut flags = String::new();
    for (on, letter) in [
        (args.out.force, 'f'),
        (args.quiet, 'q'),
        (args.native, 'n'),
        (args.trace_python_allocators, 't'),
        (args.follow_fork || args.follow_children, 'F'),
        (args.follow_children, 'C'),
        (args.no_compress, 'z'),
        (args.aggregate, 'a'),
        (live_port.is_some(), 'l'),
        (args.live_remote, 'r'),
    ] {
        if on {
            flags.push(letter);
        }
    }
    if flags.is_empty() {
        flags.push('-');
    }
    // With live tracking, the output argument is the port to serve on.
    let output: OsString = match live_port {
        Some(p) => p.to_string().into(),
        None => args.out.output.clone().unwrap_or_default().into(),
    };
    let mut command_line = vec!["memray".to_string()];
    command_line.extend(std::env::args().skip(1));
    let python = python();
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "memray.commands.run", &flags])
        .arg(output)
        .arg(mode)
        .args(&args.target)
        .env("MEMRAY_COMMAND_LINE", command_line.join(" "));
    if let Some(sampling) = args.sampling.spec() {
        cmd.env("MEMRAY_RS_SAMPLING", sampling);
    }
    if let (true, Some(port)) = (args.live, live_port) {
        let code = tui::run_live(cmd, port)
            .with_context(|| format!("could not run {}", python.display()))?;
        std::process::exit(code);
    }
    let err = cmd.exec();
    bail!("could not run {}: {err}", python.display())
}
