//! `memray-capture run` (also `memray run`): runs a Python program under the tracker. The
//! command line is parsed here; the program then runs in the chosen interpreter through
//! `python -m memray.commands.run`, which replaces this process (same pid, same stdio, the
//! program's exit status). With `--live` the program runs in a child instead, streaming to a
//! free loopback port, and the live view runs here in the foreground.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use memray_analysis::live::Live;
use memray_tools::args::capture::{Cli, Cmd, RunArgs};
use memray_tools::live;

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
    let live_port = if args.live || args.live_remote {
        Some(match args.live_port {
            Some(p) => match live::check_port(p) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            },
            None => free_port()?,
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
        (args.force, 'f'),
        (args.quiet, 'q'),
        (args.native, 'n'),
        (args.trace_python_allocators, 't'),
        (args.follow_fork, 'F'),
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
    let output = match live_port {
        Some(p) => p.to_string(),
        None => args.output.clone().unwrap_or_default(),
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
    if let (true, Some(port)) = (args.live, live_port) {
        let code =
            run_live(cmd, port).with_context(|| format!("could not run {}", python.display()))?;
        std::process::exit(code);
    }
    let err = cmd.exec();
    bail!("could not run {}: {err}", python.display())
}

/// A port nothing listens on now, on the loopback interface.
fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free port")?;
    Ok(l.local_addr()?.port())
}

/// A file for the program's standard error, already unlinked (gone when closed).
fn scratch_file() -> Result<File> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path =
        std::env::temp_dir().join(format!("memray-live-{}-{nanos}.stderr", std::process::id()));
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "exited".to_string(),
    }
}

/// Prints what the program wrote to stderr, and gives its exit code.
fn report_failure(status: ExitStatus, mut stderr: File) -> i32 {
    let mut text = String::new();
    let _ = stderr.seek(SeekFrom::Start(0));
    let _ = stderr.read_to_string(&mut text);
    if !text.is_empty() {
        eprintln!("{}", text.trim_end());
    }
    status.code().unwrap_or(1)
}

/// `memray run --live`: the program runs in a child streaming to `port`, and the live view
/// runs here in the foreground. Quitting the view ends the program. Returns the exit code.
fn run_live(mut cmd: Command, port: u16) -> Result<i32> {
    let stderr = scratch_file()?;
    // The view owns the terminal: the program gets no input and its output is dropped
    // (its standard error is shown if it fails), as with Memray.
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr.try_clone()?);
    let mut child = cmd.spawn()?;
    let mut exited_early = None;
    let stream = live::connect(port, || {
        if let Some(status) = child.try_wait()? {
            exited_early = Some(status);
            bail!("the program exited before tracking started");
        }
        Ok(())
    });
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            let Some(status) = exited_early else {
                return Err(e);
            };
            return Ok(report_failure(status, stderr));
        }
    };
    let live_state = Live::start(stream)?;
    let mut status: Option<ExitStatus> = None;
    let on_tick = || {
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        status.map(describe)
    };
    let shown = live::run(
        &live_state,
        live::Options {
            on_tick: Some(Box::new(on_tick)),
        },
    );
    let status = child.try_wait()?;
    if status.is_none() {
        terminate(&mut child);
    }
    drop(live_state);
    shown?;
    match status {
        Some(s) if !s.success() => Ok(report_failure(s, stderr)),
        _ => Ok(0),
    }
}

/// Asks the program to stop (SIGTERM, as Memray does), then makes sure it does.
fn terminate(child: &mut Child) {
    // SAFETY: signalling our own child by its pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    let _ = child.kill();
    let _ = child.wait();
}
