//! `memray._memray`: the tracker as a Python extension module. Starting a capture opens the
//! destination, writes the header, rewrites the GOTs (and, if asked, wraps the Python
//! allocators) and starts the RSS sampler; stopping undoes all of it and writes the footer.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod detach;
mod dlopen_path;
mod elf;
mod exports;
mod got;
mod hooks;
mod journal;
mod live_reader;
mod lock;
mod native;
mod object_lifetimes;
mod pymalloc;
mod quiet_thread;
mod reader;
mod record_capture;
mod sampler;
mod sampling;
mod seam;
mod tracker;
mod writer_thread;

use std::sync::atomic::Ordering::*;

use pyo3::exceptions::{PyFileExistsError, PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use std::sync::Mutex;

use memray_format::records::{FileFormat, Header};
use tracker::{current_tid, now_ms, Options, State, ACTIVE, STATE};

static SAMPLER: Mutex<Option<sampler::Sampler>> = Mutex::new(None);
/// Set in a forked child whose parent tracked with `follow_fork`: its capture's options, and
/// its capture file, created (with its header) by the fork handler; `follow_fork_in_child`
/// starts tracking into it.
static CHILD: Mutex<Option<(Options, std::io::Result<tracker::Sink>)>> = Mutex::new(None);
/// The forking thread's signal mask while a tracked process forks: every signal waits from
/// before the fork until the parent is back, and in the child until its capture file exists.
static FORK_MASK: Mutex<Option<libc::sigset_t>> = Mutex::new(None);
/// Set by `os.fork`'s Python `before` hook until the fork returns: only a fork made through
/// Python (`os.fork`, multiprocessing) gets a capture of its own. A fork from C (`subprocess`
/// on 3.9, or without vfork) runs no Python in the child, which only execs another program:
/// a capture there would hold nothing and leave an empty member in the capture set.
static PYTHON_FORK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The process tracking (set when tracking begins). A `vfork` child shares the parent's
/// memory, flags included, and runs no fork handler: it must not finish the parent's capture
/// when it calls `_exit` or `exec*` (`subprocess` does so from a vfork child on 3.10+).
static TRACKED_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static TRACE_PYTHON_ALLOCATORS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn open_error(path: &str, e: std::io::Error) -> PyErr {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        return PyFileExistsError::new_err(format!(
            "Output file {path} already exists. Memray can overwrite it with the --force CLI \
             argument or the overwrite=True API argument."
        ));
    }
    let reason = e.to_string();
    let reason = reason.split(" (os error").next().unwrap_or("");
    PyOSError::new_err(format!("Could not create output file {path}: {reason}"))
}

/// Starts tracking into `path`; returns the tracker id of the calling (main) thread.
/// `paths` is (stdlib directory, site-packages, sys.path), for the reports' import filter.
///
/// Keep the keyword arguments at 15 or fewer: with 16, CPython 3.10 frees a block of its own
/// when the call returns, after tracking has begun, which every capture would then record.
#[pyfunction]
#[pyo3(signature = (path, *, overwrite, compress, trace_python_allocators, native_traces,
    follow_fork, memory_interval_ms, command_line, python_version, paths, skipped_frames,
    socket=None, aggregate=false, socket_timeout=None, parent_pid=0, sampling=None))]
#[allow(clippy::too_many_arguments)]
fn start_tracking(
    py: Python<'_>,
    path: String,
    overwrite: bool,
    compress: bool,
    trace_python_allocators: bool,
    native_traces: bool,
    follow_fork: bool,
    memory_interval_ms: u32,
    command_line: String,
    python_version: String,
    paths: (String, Vec<String>, Vec<String>),
    skipped_frames: u32,
    socket: Option<(String, u16)>,
    aggregate: bool,
    socket_timeout: Option<f64>,
    parent_pid: u32,
    sampling: Option<(u64, Option<u64>)>,
) -> PyResult<u32> {
    if ACTIVE.load(Relaxed) || STATE.lock().is_some() {
        return Err(PyRuntimeError::new_err(
            "No more than one Tracker instance can be active at the same time",
        ));
    }
    tracker::init_thread_key();
    let tid = current_tid();
    let (stdlib_dir, site_packages, sys_path) = paths;
    let header = Header {
        pid: std::process::id(),
        main_thread_id: tid,
        start_time_ms: now_ms(),
        command_line,
        python_version,
        python_allocator: seam::python_allocator(),
        native_traces,
        trace_python_allocators,
        follow_fork,
        file_format: if aggregate {
            FileFormat::AggregatedAllocations
        } else {
            FileFormat::AllAllocations
        },
        memory_interval_ms,
        main_thread_skipped_frames: skipped_frames,
        stdlib_dir,
        site_packages,
        sys_path,
        parent_pid,
        sample_every: sampling.map_or(0, |(rate, _)| rate),
    };
    let options = Options {
        path: path.clone(),
        overwrite,
        compress,
        follow_fork,
        memory_interval_ms,
        aggregate,
        sample_seed: sampling.and_then(|(_, seed)| seed),
        header,
    };
    let sink = match socket {
        // Waits for the client with the GIL released, so other threads run meanwhile, and
        // checks for signals between short waits, so Ctrl-C still interrupts.
        Some((address, port)) => {
            let fail = |e: std::io::Error| {
                PyOSError::new_err(format!("Could not serve on {address}:{port}: {e}"))
            };
            let listener = tracker::listen(&address, port).map_err(fail)?;
            // `memray attach`: the program must not wait forever for a view that never comes.
            let deadline = socket_timeout
                .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
                .map(|d| std::time::Instant::now() + d);
            loop {
                if deadline.is_some_and(|d| std::time::Instant::now() > d) {
                    return Err(PyOSError::new_err(format!(
                        "no live view connected to {address}:{port} in time"
                    )));
                }
                let wait = std::time::Duration::from_millis(100);
                if let Some(sink) = py
                    .detach(|| tracker::wait_for_client(&listener, wait))
                    .map_err(fail)?
                {
                    break sink;
                }
                py.check_signals()?;
            }
        }
        None => tracker::open_sink(&path, overwrite).map_err(|e| open_error(&path, e))?,
    };
    begin(options, sink, trace_python_allocators).map_err(|e| open_error(&path, e))?;
    Ok(tid)
}

fn begin(
    options: Options,
    sink: tracker::Sink,
    trace_python_allocators: bool,
) -> std::io::Result<()> {
    let interval = options.memory_interval_ms;
    native::NATIVE.store(options.header.native_traces, Relaxed);
    sampling::start(options.header.sample_every, options.sample_seed);
    let state = State::create(options, sink)?;
    *STATE.lock() = Some(state);
    seam::watch_code_deaths(tracker::on_code_death);
    hooks::install_got();
    if trace_python_allocators {
        pymalloc::install();
    }
    TRACE_PYTHON_ALLOCATORS.store(trace_python_allocators, Relaxed);
    TRACKED_PID.store(std::process::id(), Relaxed);
    ACTIVE.store(true, Release);
    let _quiet = seam::Guard::enter();
    *SAMPLER.lock().unwrap_or_else(|e| e.into_inner()) = Some(sampler::Sampler::start(interval));
    Ok(())
}

/// Stops tracking: restores every hook and finishes the capture. A no-op when not tracking.
#[pyfunction]
fn stop_tracking() -> PyResult<()> {
    ACTIVE.store(false, Release);
    sampling::stop();
    seam::unwatch_code_deaths();
    pymalloc::uninstall();
    hooks::restore_got();
    if let Some(s) = SAMPLER.lock().unwrap_or_else(|e| e.into_inner()).take() {
        s.stop();
    }
    let state = STATE.lock().take();
    if let Some(state) = state {
        let path = state.options.path.clone();
        state
            .finish()
            .map_err(|e| PyOSError::new_err(format!("could not finish {path}: {e}")))?;
    }
    Ok(())
}

#[pyfunction]
fn is_tracking() -> bool {
    ACTIVE.load(Relaxed)
}

/// Names the thread with pthread id `ident` (the `threading` ident).
#[pyfunction]
fn register_thread_name(ident: u64, name: &str) {
    let _g = seam::Guard::enter();
    if let Some(state) = STATE.lock().as_mut() {
        state.register_thread_name(ident, name);
    }
}

/// The tracker's id for the calling thread.
#[pyfunction]
fn thread_id() -> u32 {
    current_tid()
}

/// In a child forked from a process tracking with `follow_fork`, starts the child's own
/// capture (created by `after_fork_child`). Returns its path, or None.
#[pyfunction]
fn follow_fork_in_child() -> PyResult<Option<String>> {
    let Some((options, sink)) = CHILD.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return Ok(None);
    };
    let path = options.path.clone();
    let trace = TRACE_PYTHON_ALLOCATORS.load(Relaxed);
    quiet_thread::signals_held(|| {
        let sink = sink.map_err(|e| open_error(&path, e))?;
        begin(options, sink, trace).map_err(|e| open_error(&path, e))
    })?;
    Ok(Some(path))
}

/// The options of a child's capture: `<parent file minus its .<pid>>.<child pid>`, with the
/// child's pid, thread and start time.
fn child_options(parent: &Options) -> Options {
    let mut options = parent.clone();
    let parent_pid = options.header.pid;
    let stem = options
        .path
        .strip_suffix(&format!(".{parent_pid}"))
        .unwrap_or(&options.path)
        .to_string();
    let pid = std::process::id();
    options.path = format!("{stem}.{pid}");
    options.overwrite = true;
    options.header.pid = pid;
    options.header.parent_pid = parent_pid;
    options.header.main_thread_id = current_tid();
    options.header.start_time_ms = now_ms();
    options
}

/// `os.register_at_fork(before=...)`: the fork about to happen is Python's.
#[pyfunction]
fn python_fork_begins() {
    PYTHON_FORK.store(true, Relaxed);
}

/// `os.register_at_fork(after_in_parent=...)`: Python's fork has returned in the parent.
#[pyfunction]
fn python_fork_ends() {
    PYTHON_FORK.store(false, Relaxed);
}

extern "C" fn before_fork() {
    STATE.hold_for_fork();
    if ACTIVE.load(Relaxed) && PYTHON_FORK.load(Relaxed) {
        // A process terminated as soon as it is forked (a Pool worker nobody needed) must
        // still leave a capture that reads: see `after_fork_child`.
        let old = quiet_thread::block_signals();
        *FORK_MASK.lock().unwrap_or_else(|e| e.into_inner()) = Some(old);
    }
}

/// Puts back the mask `before_fork` saved, if it saved one.
fn restore_fork_mask() {
    if let Some(old) = FORK_MASK.lock().unwrap_or_else(|e| e.into_inner()).take() {
        quiet_thread::restore_signals(&old);
    }
}

extern "C" fn after_fork_parent() {
    restore_fork_mask();
    // SAFETY: `before_fork` took the lock on this thread.
    unsafe { STATE.release_after_fork() };
}

extern "C" fn after_fork_child() {
    let _quiet = seam::Guard::enter();
    // SAFETY: a fresh child: the forking thread is its only thread.
    unsafe { STATE.reset_in_child() };
    let python_fork = PYTHON_FORK.swap(false, Relaxed);
    let state = STATE.lock().take();
    if let Some(state) = state {
        ACTIVE.store(false, Relaxed);
        if state.options.follow_fork && python_fork {
            // The file, with its header, before any signal can end the child.
            let options = child_options(&state.options);
            let sink = tracker::open_sink(&options.path, true).and_then(|sink| {
                sink.write_header_early(&options.header)?;
                Ok(sink)
            });
            if let Ok(mut c) = CHILD.try_lock() {
                *c = Some((options, sink));
            }
        }
        // The parent owns the file: the child must not write the parent's buffered records,
        // and the writer and sampler threads do not exist here.
        std::mem::forget(state);
        if let Ok(mut s) = SAMPLER.try_lock() {
            std::mem::forget(s.take());
        }
    }
    restore_fork_mask();
}

/// Finishes the capture when the process is about to end without stopping the tracker
/// (`os._exit`, C `exit()`, `exec*`): seals the buffered records and writes the footer. Touches no
/// Python state, so it is safe from any thread.
pub(crate) fn finish_before_exit() {
    if !ACTIVE.load(Acquire) || std::process::id() != TRACKED_PID.load(Relaxed) {
        return; // not tracking, or a vfork child of the process that is
    }
    if !ACTIVE.swap(false, AcqRel) {
        return;
    }
    let _quiet = seam::Guard::enter();
    if let Some(s) = SAMPLER.lock().unwrap_or_else(|e| e.into_inner()).take() {
        s.stop();
    }
    let state = STATE.lock().take();
    if let Some(state) = state {
        let path = state.options.path.clone();
        if let Err(e) = state.finish() {
            eprintln!("memray: could not finish {path}: {e}");
        }
    }
}

extern "C" fn finish_at_exit() {
    finish_before_exit();
}

#[pymodule]
fn _memray(m: &Bound<'_, PyModule>) -> PyResult<()> {
    if let Some(built_for) = seam::version_mismatch() {
        return Err(pyo3::exceptions::PyImportError::new_err(format!(
            "memray._memray was built for CPython {built_for}, not for this interpreter ({}); \
             reinstall memray with this interpreter",
            Python::version_str()
        )));
    }
    hooks::resolve_real();
    tracker::init_thread_key();
    // SAFETY: registering plain extern "C" handlers.
    unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_parent),
            Some(after_fork_child),
        );
        libc::atexit(finish_at_exit);
    }
    m.add_function(wrap_pyfunction!(start_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(stop_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(is_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(register_thread_name, m)?)?;
    m.add_function(wrap_pyfunction!(thread_id, m)?)?;
    m.add_function(wrap_pyfunction!(follow_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(python_fork_begins, m)?)?;
    m.add_function(wrap_pyfunction!(python_fork_ends, m)?)?;
    m.add_function(wrap_pyfunction!(reader::combined_peak, m)?)?;
    m.add_function(wrap_pyfunction!(python_depth, m)?)?;
    m.add_class::<reader::CaptureReader>()?;
    m.add_class::<live_reader::LiveReader>()?;
    object_lifetimes::register(m)?;
    record_capture::register(m)?;
    exports::register(m)?;
    Ok(())
}

/// Number of Python frames on the calling thread's stack (as the tracker sees them).
#[pyfunction]
fn python_depth() -> usize {
    tracker::python_depth()
}
