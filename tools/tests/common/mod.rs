//! Helpers shared by the integration tests (one file per program, `tests/<program>.rs`):
//! building captures with the format crate's writer and running the programs the crate builds.
//! The captures several programs' tests read are in [`app`] (the reports') and [`demo`] (the
//! exports'); [`raw`] runs a program whose output may be binary, [`pty`] one whose standard
//! output is a terminal.
//!
//! Each test binary compiles this module on its own and uses only part of it, hence the
//! `allow(dead_code)`.

#![allow(dead_code)]

pub mod app;
pub mod demo;
pub mod pty;
pub mod raw;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use memray_format::{
    AllocatorType, CaptureWriter, CodeDef, Event, FileFormat, Header, MemorySample, StackNode,
    ThreadName,
};

/// When every test capture starts.
pub const START_MS: u64 = 1_700_000_000_000;

/// The header fields the test captures share: pid 4242, main thread 1 with 1 frame
/// (`_run_tracker`) hidden, Python 3.11.7 with pymalloc, every allocation recorded. Each test
/// file sets its own command line and, where they differ, other fields with `..base_header()`.
pub fn base_header() -> Header {
    Header {
        pid: 4242,
        main_thread_id: 1,
        start_time_ms: START_MS,
        command_line: String::new(),
        python_version: "3.11.7".into(),
        python_allocator: "pymalloc".into(),
        native_traces: false,
        trace_python_allocators: false,
        follow_fork: false,
        file_format: FileFormat::AllAllocations,
        memory_interval_ms: 10,
        main_thread_skipped_frames: 1,
        stdlib_dir: "/usr/lib/python3.11".into(),
        site_packages: vec![],
        sys_path: vec!["/proj".into()],
        parent_pid: 0,
        sample_every: 0,
    }
}

/// Defines a code object; returns its id.
pub fn code<W: Write>(
    w: &mut CaptureWriter<W>,
    function: &str,
    filename: &str,
    first_line: u32,
) -> u32 {
    w.define_code(&CodeDef {
        function: function.into(),
        filename: filename.into(),
        first_line,
    })
    .unwrap()
}

/// Defines a stack node (`parent` 0 for an outermost frame); returns its id.
pub fn node<W: Write>(w: &mut CaptureWriter<W>, parent: u32, code: u32, line: u32) -> u32 {
    w.define_node(&StackNode {
        parent,
        code,
        line,
        entry: true,
    })
    .unwrap()
}

/// Writes one allocation event with no native stack.
pub fn ev<W: Write>(
    w: &mut CaptureWriter<W>,
    allocator: AllocatorType,
    thread: u32,
    address: u64,
    size: u64,
    stack: u32,
) {
    w.event(&Event {
        allocator,
        thread,
        address,
        size,
        stack,
        native_stack: 0,
    })
    .unwrap()
}

pub fn thread_name<W: Write>(w: &mut CaptureWriter<W>, thread: u32, name: &str) {
    w.thread_name(&ThreadName {
        thread,
        name: name.into(),
    })
    .unwrap();
}

pub fn memory_sample<W: Write>(w: &mut CaptureWriter<W>, time_ms: u64, rss: u64) {
    w.memory_sample(&MemorySample { time_ms, rss }).unwrap();
}

/// `program ARGS` in `dir`, in UTC, without `MEMRAY_COMPAT`, stdin empty, stdout a pipe.
pub fn cmd(program: &str, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env_remove("MEMRAY_COMPAT")
        .stdin(Stdio::null());
    c
}

/// A finished program's exit code and text output.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn finish(out: Output) -> Out {
    Out {
        code: out.status.code().expect("killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Exit 0 and nothing on stderr.
pub fn assert_ok_quiet(o: &Out) {
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    assert_eq!(o.stderr, "", "unexpected stderr");
}

/// The failure every bad input must give: exit 1 and one line on stderr, nothing on stdout.
pub fn assert_one_line_error(o: &Out, what: &str) -> String {
    assert_eq!(o.code, 1, "{what}: stderr {:?}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{what}: {:?}", o.stderr);
    assert!(
        !o.stderr.contains("RUST_BACKTRACE"),
        "{what}: {:?}",
        o.stderr
    );
    assert!(o.stderr.ends_with('\n'), "{what}: {:?}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{what}: {:?}", o.stderr);
    assert_eq!(o.stdout, "", "{what}");
    o.stderr.trim_end().to_string()
}

/// `program ARGS` in `dir`, stdout a pipe (as [`cmd`] sets it up).
pub fn run(program: &str, dir: &Path, args: &[&str]) -> Out {
    finish(cmd(program, dir, args).output().unwrap())
}

/// The program's stdout, after checking it exited 0 with nothing on stderr.
pub fn ok(o: Out) -> String {
    assert_ok_quiet(&o);
    o.stdout
}
