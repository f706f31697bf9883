//! `memray run --live`: the program runs in a child streaming to a free loopback port, and the
//! live view ([`crate::live`]) runs in the foreground; quitting the view ends the program.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use memray_analysis::live::Live;

use crate::live;

/// A port nothing listens on now, on the loopback interface.
pub fn free_port() -> Result<u16> {
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
pub fn run_live(mut cmd: Command, port: u16) -> Result<i32> {
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
