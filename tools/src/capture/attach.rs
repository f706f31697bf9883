//! `memray attach PID` and `memray detach PID`: the command lines are checked here; the work
//! (gdb, the safe point, the status the target reports) is `python -m memray.commands.attach`
//! in the interpreter of this installation, whose `memray._memray` is the one injected. Without
//! `-o`, the target streams to a free loopback port and the live view runs here; quitting it
//! detaches, so the target keeps running untouched.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use memray_analysis::live::Live;

use super::args::{AttachArgs, DetachArgs, Method};
use super::{python, tui};
use crate::common::output::check_overwrite;
use crate::live;

fn check_method(method: Method) -> Result<()> {
    if let Method::Lldb = method {
        bail!(
            "--method lldb is not supported: this memray attaches with gdb (--method gdb or auto)"
        );
    }
    Ok(())
}

fn command(action: &str, pid: i32, request: &serde_json::Value) -> Command {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "memray.commands.attach", action, &pid.to_string()])
        .arg(request.to_string());
    cmd
}

fn exec(action: &str, pid: i32, request: serde_json::Value) -> Result<()> {
    let err = command(action, pid, &request).exec();
    bail!("could not run {}: {err}", python().display())
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// The live view on process `pid`: the target is told to stream to a free port (the attach
/// command's own errors are its one line and exit status), the view connects and runs until
/// the user quits or the target exits; quitting detaches first.
fn attach_live(pid: i32, request: serde_json::Value) -> Result<()> {
    let port = tui::free_port()?;
    let mut request = request;
    request["port"] = json!(port);
    let status = command("attach", pid, &request)
        .status()
        .with_context(|| format!("could not run {}", python().display()))?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = live::connect(port, || {
        if !alive(pid) {
            bail!("process {pid} exited before tracking started");
        }
        if Instant::now() > deadline {
            bail!("process {pid} did not start streaming to port {port} within 30 s");
        }
        Ok(())
    })?;
    let live_state = Live::start(stream)?;
    let mut exited = false;
    let on_tick = || {
        exited = exited || !alive(pid);
        exited.then(|| "exited".to_string())
    };
    let shown = live::run(
        &live_state,
        live::Options {
            on_tick: Some(Box::new(on_tick)),
        },
    );
    if alive(pid) {
        // Stops tracking in the target before the view's end of the socket goes away.
        let _ = command("detach", pid, &detach_request(Method::Auto, false))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    drop(live_state);
    shown
}

/// Starts tracking in process `args.pid`, into `-o FILE`, else into the live view.
pub fn attach(args: AttachArgs) -> Result<()> {
    check_method(args.method)?;
    let output = args.output.clone().unwrap_or_default();
    if args.output.is_some() {
        check_overwrite(&output, args.force)?;
    }
    let request = json!({
        "output": output.to_string_lossy(),
        "force": args.force,
        "compress": !args.no_compress,
        "aggregate": args.aggregate,
        "native": args.native,
        "follow_fork": args.follow_fork,
        "trace_python_allocators": args.trace_python_allocators,
        "duration": args.duration,
        "sample_every": args.sampling.sample_every,
        "sample_seed": args.sampling.sample_seed,
        "port": serde_json::Value::Null,
        "method": args.method.name(),
        "verbose": args.verbose,
    });
    if args.output.is_none() {
        return attach_live(args.pid, request);
    }
    exec("attach", args.pid, request)
}

/// What `python -m memray.commands.attach detach` is told.
fn detach_request(method: Method, verbose: bool) -> serde_json::Value {
    json!({"method": method.name(), "verbose": verbose})
}

/// Stops the tracking a `memray attach` started in process `args.pid`.
pub fn detach(args: DetachArgs) -> Result<()> {
    check_method(args.method)?;
    exec(
        "detach",
        args.pid,
        detach_request(args.method, args.verbose),
    )
}
