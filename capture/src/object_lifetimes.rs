//! Memray's object-lifetime API: `Tracker(track_object_lifetimes=True)` and
//! `Tracker.get_surviving_objects()`. While tracking, a CPython reference tracer
//! (`PyRefTracer_SetTracer`, whose events are complete from CPython 3.13.3) keeps the set of
//! objects created since tracking started and not destroyed since; when tracking stops, the
//! objects still in the set are handed back as new strong references.
//!
//! The tracer runs inside the interpreter, with the GIL held, on every object creation and
//! destruction, so it never calls into Python, never waits for a lock (a lock it cannot take
//! marks the set incomplete instead, and an incomplete set is never read), and takes the
//! tracker's re-entrancy guard while it works, so the memory of the set is not recorded as the
//! program's. A destruction is removed from the set even inside the tracker: an address left in
//! the set after its object died would be touched when the survivors are collected.
//!
//! The interpreter has one tracer slot, which `tracemalloc` uses too: a tracer installed before
//! tracking started is called after ours and put back when tracking stops; if the slot was
//! taken from us while tracking (`tracemalloc.start()` or `stop()`), destructions may have been
//! missed, so collecting the survivors fails with a clear error rather than touch them.
//!
//! The API is looked up at run time (`dlsym`), so the extension builds against every supported
//! interpreter and the feature is there exactly on the interpreters that have it.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use rustc_hash::FxHashSet;

use crate::seam;

/// `PyRefTracer_CREATE` and `PyRefTracer_DESTROY` (`PyRefTracerEvent`, CPython 3.13).
const CREATE: c_int = 0;
const DESTROY: c_int = 1;

/// The first CPython whose reference tracer reports every destruction (3.13.3 fixed the
/// resizes of tuples, bytes and str, which freed objects without telling the tracer).
const FIRST_COMPLETE: (u8, u8, u8) = (3, 13, 3);

type Tracer = unsafe extern "C" fn(*mut ffi::PyObject, c_int, *mut c_void) -> c_int;
type SetTracer = unsafe extern "C" fn(Option<Tracer>, *mut c_void) -> c_int;
type GetTracer = unsafe extern "C" fn(*mut *mut c_void) -> Option<Tracer>;

/// `PyRefTracer_SetTracer` and `PyRefTracer_GetTracer`, when the interpreter has them.
fn api() -> Option<(SetTracer, GetTracer)> {
    static API: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    let (set, get) = (*API.get_or_init(|| {
        let find = |name: &[u8]| {
            // SAFETY: dlsym with a NUL-terminated name.
            unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr() as *const c_char) as usize }
        };
        let set = find(b"PyRefTracer_SetTracer\0");
        let get = find(b"PyRefTracer_GetTracer\0");
        (set != 0 && get != 0).then_some((set, get))
    }))?;
    // SAFETY: the addresses are CPython's functions of these exact signatures (object.h).
    unsafe {
        Some((
            std::mem::transmute::<usize, SetTracer>(set),
            std::mem::transmute::<usize, GetTracer>(get),
        ))
    }
}

/// Addresses of the objects created while tracking and not destroyed since.
static LIVE: Mutex<Option<FxHashSet<usize>>> = Mutex::new(None);
/// The tracer records events (between `start_object_lifetimes` and `surviving_objects`).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// An event could not be recorded: the set may hold the address of a dead object.
static INCOMPLETE: AtomicBool = AtomicBool::new(false);
/// The tracer (and its data) that was installed when ours was, called after ours.
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS_DATA: AtomicUsize = AtomicUsize::new(0);

/// The set, without ever waiting (None when another thread holds it).
fn try_live() -> Option<MutexGuard<'static, Option<FxHashSet<usize>>>> {
    match LIVE.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

fn record(object: usize, event: c_int) {
    let guard = seam::Guard::enter();
    if guard.is_none() && event == CREATE {
        return; // made by the tracker itself
    }
    let Some(mut live) = try_live() else {
        INCOMPLETE.store(true, Relaxed);
        return;
    };
    let Some(set) = live.as_mut() else {
        return;
    };
    match event {
        CREATE => {
            set.insert(object);
        }
        DESTROY => {
            set.remove(&object);
        }
        _ => {}
    }
}

/// The reference tracer: called by the interpreter, with the GIL held, for every object
/// created and every object about to be destroyed.
unsafe extern "C" fn tracer(object: *mut ffi::PyObject, event: c_int, _data: *mut c_void) -> c_int {
    if ENABLED.load(Acquire) {
        record(object as usize, event);
    }
    let previous = PREVIOUS.load(Acquire);
    if previous != 0 {
        // SAFETY: a tracer the interpreter held before ours, with its own data.
        unsafe {
            let previous = std::mem::transmute::<usize, Tracer>(previous);
            return previous(object, event, PREVIOUS_DATA.load(Acquire) as *mut c_void);
        }
    }
    0
}

/// Whether `current` (what `PyRefTracer_GetTracer` returned) is our tracer.
fn is_ours(current: Option<Tracer>) -> bool {
    let ours: Tracer = tracer;
    current.map(|f| f as usize) == Some(ours as usize)
}

fn unavailable(py: Python<'_>) -> Option<String> {
    let v = py.version_info();
    if (v.major, v.minor, v.patch) < FIRST_COMPLETE {
        return Some(format!(
            "Python object reference tracking requires Python 3.13.3 or later. \
             Current version: {}.{}.{}",
            v.major, v.minor, v.patch
        ));
    }
    if api().is_none() {
        return Some("this interpreter has no reference tracer (PyRefTracer_SetTracer)".into());
    }
    None
}

/// None when this interpreter can track object lifetimes; else why not.
#[pyfunction]
fn object_lifetimes_unavailable(py: Python<'_>) -> Option<String> {
    unavailable(py)
}

/// Starts recording the objects created from now on (and their destruction).
#[pyfunction]
fn start_object_lifetimes(py: Python<'_>) -> PyResult<()> {
    if let Some(reason) = unavailable(py) {
        return Err(PyRuntimeError::new_err(reason));
    }
    let Some((set_tracer, get_tracer)) = api() else {
        return Err(PyRuntimeError::new_err("no reference tracer"));
    };
    let _quiet = seam::Guard::enter();
    {
        let Some(mut live) = try_live() else {
            return Err(PyRuntimeError::new_err(
                "object lifetimes are being collected",
            ));
        };
        *live = Some(FxHashSet::default());
    }
    INCOMPLETE.store(false, Relaxed);
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: called with the GIL held (a pyfunction), as the API requires.
    let current = unsafe { get_tracer(&mut data) };
    if !is_ours(current) {
        PREVIOUS_DATA.store(data as usize, Release);
        PREVIOUS.store(current.map_or(0, |f| f as usize), Release);
    }
    ENABLED.store(true, Release);
    // SAFETY: as above; `tracer` never calls into Python.
    if unsafe { set_tracer(Some(tracer), std::ptr::null_mut()) } != 0 {
        ENABLED.store(false, Release);
        return Err(PyErr::take(py)
            .unwrap_or_else(|| PyRuntimeError::new_err("could not install the reference tracer")));
    }
    Ok(())
}

/// Stops recording and puts back the tracer that was installed before ours (when ours is
/// still the one installed). Returns whether ours was still installed.
fn stop(set_tracer: SetTracer, get_tracer: GetTracer) -> bool {
    ENABLED.store(false, Release);
    // SAFETY: called with the GIL held.
    let current = unsafe { get_tracer(std::ptr::null_mut()) };
    let ours = is_ours(current);
    if ours {
        let previous = PREVIOUS.swap(0, AcqRel);
        let data = PREVIOUS_DATA.swap(0, AcqRel) as *mut c_void;
        // SAFETY: puts back the tracer (or none) that was there before ours, under the GIL.
        unsafe {
            let previous = (previous != 0).then(|| std::mem::transmute::<usize, Tracer>(previous));
            set_tracer(previous, data);
        }
    }
    ours
}

/// Stops recording and forgets the objects recorded (a forked child that does not go on
/// tracking). A no-op when not recording.
#[pyfunction]
fn stop_object_lifetimes() {
    let Some((set_tracer, get_tracer)) = api() else {
        return;
    };
    if !ENABLED.load(Acquire) {
        return;
    }
    let _quiet = seam::Guard::enter();
    stop(set_tracer, get_tracer);
    if let Some(mut live) = try_live() {
        *live = None;
    }
}

/// Stops recording and returns the objects created while tracking that are still alive, as
/// new references. Fails (returning nothing) when the record is incomplete.
#[pyfunction]
fn surviving_objects(py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
    let Some((set_tracer, get_tracer)) = api() else {
        return Err(PyRuntimeError::new_err("object lifetimes were not tracked"));
    };
    let mut alive: Vec<*mut ffi::PyObject> = Vec::new();
    let failure = {
        let _quiet = seam::Guard::enter();
        let live = try_live();
        // While the set is held and the tracer still installed, no object can die unseen:
        // this thread holds the GIL, and nothing below calls into Python.
        let ours = if live.is_some() {
            // SAFETY: called with the GIL held.
            is_ours(unsafe { get_tracer(std::ptr::null_mut()) })
        } else {
            false
        };
        ENABLED.store(false, Release);
        let failure = match live {
            None => Some("object lifetimes are being collected by another thread"),
            Some(mut live) => match live.take() {
                None => Some("object lifetimes were not tracked"),
                Some(_) if INCOMPLETE.load(Relaxed) => {
                    Some("an object's creation or destruction could not be recorded")
                }
                Some(_) if !ours => Some(
                    "the interpreter's reference tracer was replaced while tracking \
                     (by tracemalloc.start() or tracemalloc.stop()?), so objects may have \
                     died unseen",
                ),
                Some(set) => {
                    alive.reserve(set.len());
                    for &address in &set {
                        let object = address as *mut ffi::PyObject;
                        // SAFETY: every object in the set is alive: its destruction would
                        // have removed it. (A count of zero would mean a destruction the
                        // interpreter did not report; such an object is left alone.)
                        unsafe {
                            if ffi::Py_REFCNT(object) > 0 {
                                ffi::Py_INCREF(object);
                                alive.push(object);
                            }
                        }
                    }
                    None
                }
            },
        };
        stop(set_tracer, get_tracer);
        failure
    };
    if let Some(reason) = failure {
        return Err(PyRuntimeError::new_err(format!(
            "the surviving objects are unknown: {reason}"
        )));
    }
    // SAFETY: each pointer carries the reference taken above.
    Ok(alive
        .into_iter()
        .map(|p| unsafe { Bound::from_owned_ptr(py, p) }.unbind())
        .collect())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(object_lifetimes_unavailable, m)?)?;
    m.add_function(wrap_pyfunction!(start_object_lifetimes, m)?)?;
    m.add_function(wrap_pyfunction!(stop_object_lifetimes, m)?)?;
    m.add_function(wrap_pyfunction!(surviving_objects, m)?)?;
    Ok(())
}
