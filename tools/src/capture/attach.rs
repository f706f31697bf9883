//! `memray attach PID` and `memray detach PID`: the command lines are checked here; the work
//! (gdb, the safe point, the status the target reports) is `python -m memray.commands.attach`
//! in the interpreter of this installation, whose `memray._memray` is the one injected.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{bail, Result};
use serde_json::json;

use super::args::{AttachArgs, DetachArgs, Method};
use super::python;

fn check_method(method: Method) -> Result<()> {
    if let Method::Lldb = method {
        bail!(
            "--method lldb is not supported: this memray attaches with gdb (--method gdb or auto)"
        );
    }
    Ok(())
}

fn exec(action: &str, pid: i32, request: serde_json::Value) -> Result<()> {
    let python = python();
    let err = Command::new(&python)
        .args(["-m", "memray.commands.attach", action, &pid.to_string()])
        .arg(request.to_string())
        .exec();
    bail!("could not run {}: {err}", python.display())
}

/// Starts tracking in process `args.pid`, into `-o FILE` (the live view without `-o` is not
/// built yet).
pub fn attach(args: AttachArgs) -> Result<()> {
    check_method(args.method)?;
    let Some(output) = args.output else {
        bail!("memray attach without -o (the live view) is not supported yet: give -o FILE");
    };
    if output.exists() && !args.force {
        bail!(
            "Output file {} already exists (use -f to overwrite it)",
            output.display()
        );
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
        "port": serde_json::Value::Null,
        "method": args.method.name(),
        "verbose": args.verbose,
    });
    exec("attach", args.pid, request)
}

/// Stops the tracking a `memray attach` started in process `args.pid`.
pub fn detach(args: DetachArgs) -> Result<()> {
    check_method(args.method)?;
    let request = json!({"method": args.method.name(), "verbose": args.verbose});
    exec("detach", args.pid, request)
}
