//! The tracker: what the hooks call to record an event, and the state of the capture they
//! record into. Its parts, one job each:
//! - `state`: the capture's state behind the global lock, and its options;
//! - `interner`: Python and native stacks turned into the capture's node ids;
//! - `thread_cache`: each thread's cache of its last stacks, lent out one borrow at a time;
//! - `record_writer`: records encoded into chunks for the file (streaming), or
//! - `aggregating`: summed in the process (`--aggregate`);
//! - `sink`: where the bytes go (a journaled file, a pipe, a live client's socket, nowhere).

mod aggregating;
mod interner;
mod record_writer;
mod sink;
mod state;
mod thread_cache;

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::*};
use std::time::{SystemTime, UNIX_EPOCH};

use memray_format::records::*;

use crate::lock::ForkSafeMutex;
use crate::native::{self, NATIVE};
use crate::sampling::{self, SAMPLING};
use crate::seam::{self, Guard};
use thread_cache::{with_thread_cache, INITIAL_DEPTH};

pub use sink::{listen, open_sink, wait_for_client, Sink};
pub use state::{Options, State};
pub use thread_cache::init_thread_key;

/// True while events are being recorded. Checked first by every hook.
pub static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The state; `None` when not tracking.
pub static STATE: ForkSafeMutex<Option<State>> = ForkSafeMutex::new(None);
static NEXT_TID: AtomicU32 = AtomicU32::new(1);
/// Number of thread names waiting for their thread's next allocation.
static PENDING_NAMES: AtomicUsize = AtomicUsize::new(0);

/// A chunk older than this is sealed and written by the sampler, so a killed process loses
/// at most this much.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
/// How often records reach a live client.
pub const FLUSH_EVERY_LIVE: std::time::Duration = std::time::Duration::from_millis(100);

/// This thread's tracker id (Memray's numbering: 1, 2, … in order of first use).
pub fn current_tid() -> u32 {
    let t = seam::tls_tid();
    if t != 0 {
        return t;
    }
    let t = NEXT_TID.fetch_add(1, Relaxed);
    seam::set_tls_tid(t);
    t
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Puts `errno` back as it was when dropped: recording (which may write, map or lock) must not
/// change what the program sees after the call it made.
pub struct KeepErrno(i32);

impl KeepErrno {
    #[inline]
    pub fn new() -> KeepErrno {
        // SAFETY: `__errno_location` points at this thread's errno, valid while it lives.
        KeepErrno(unsafe { *libc::__errno_location() })
    }
}

impl Drop for KeepErrno {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `__errno_location` points at this thread's errno, valid while it lives.
        unsafe { *libc::__errno_location() = self.0 };
    }
}

/// What a recording function holds while it records: `errno` kept (put back first when
/// dropped), the thread's reentrancy guard (released last), and the thread's tracker id.
struct Recording {
    _errno: KeepErrno,
    _guard: Guard,
    tid: u32,
}

impl Recording {
    /// None when not tracking, or when this thread is already inside the tracker.
    #[inline(always)]
    fn begin() -> Option<Recording> {
        if !ACTIVE.load(Relaxed) {
            return None;
        }
        let guard = Guard::enter()?;
        let errno = KeepErrno::new();
        Some(Recording {
            _errno: errno,
            _guard: guard,
            tid: current_tid(),
        })
    }
}

/// An event by thread `thread`, its stacks not (yet) known.
#[inline(always)]
fn stackless_event(allocator: AllocatorType, thread: u32, address: usize, size: u64) -> Event {
    Event {
        allocator,
        thread,
        address: address as u64,
        size,
        stack: 0,
        native_stack: 0,
    }
}

/// Records an allocation made by the calling thread. Called from the hooks.
#[inline]
pub fn record_allocation(address: usize, size: usize, allocator: AllocatorType) {
    if !ACTIVE.load(Relaxed) {
        return;
    }
    // Sampling: most allocations end here, their stacks never read. mmap is never sampled.
    let sampled = SAMPLING.load(Relaxed) && !allocator.is_range();
    let size = if sampled {
        match sampling::sampled(size) {
            Some(weight) => weight,
            None => return,
        }
    } else {
        size as u64
    };
    let Some(recording) = Recording::begin() else {
        return;
    };
    let tid = recording.tid;
    with_thread_cache(
        #[inline(always)]
        |mut cache| {
            let native = NATIVE.load(Relaxed);
            let (n, n_native) = match cache.as_deref_mut() {
                Some(c) if native => {
                    if c.ips.is_empty() {
                        c.ips.resize(INITIAL_DEPTH, 0);
                    }
                    (c.walk(true), native::unwind(&mut c.ips))
                }
                Some(c) => (c.walk(false), 0),
                None => (0, 0),
            };
            let mut st = STATE.lock();
            let Some(state) = st.as_mut() else {
                return;
            };
            if PENDING_NAMES.load(Relaxed) > 0 {
                state.flush_pending_name(tid);
            }
            state.record(
                cache,
                n,
                n_native,
                stackless_event(allocator, tid, address, size),
            );
            if sampled {
                state.note_sampled(address);
            }
        },
    );
}

/// Records a deallocation (`free`, `munmap` with its length, the pymalloc free).
#[inline]
pub fn record_deallocation(address: usize, size: usize, allocator: AllocatorType) {
    // Sampling: only the free of a sampled block is recorded, and almost every other one is
    // told apart here without a lock. Every munmap is recorded (as every mmap is).
    let sampled = SAMPLING.load(Relaxed) && allocator != AllocatorType::Munmap;
    if sampled && !sampling::maybe_sampled(address) {
        return;
    }
    let Some(recording) = Recording::begin() else {
        return;
    };
    let tid = recording.tid;
    let mut st = STATE.lock();
    if let Some(state) = st.as_mut() {
        if sampled && !state.forget_sampled(address) {
            return;
        }
        state.write_event(&stackless_event(allocator, tid, address, size as u64));
    }
}

/// Records the calling thread's name (from `prctl(PR_SET_NAME)`).
pub fn record_thread_name(name: &str) {
    let Some(recording) = Recording::begin() else {
        return;
    };
    let tid = recording.tid;
    if let Some(state) = STATE.lock().as_mut() {
        state.set_thread_name(tid, name);
    }
}

/// Number of Python frames on the calling thread's stack.
pub fn python_depth() -> usize {
    seam::python_stack(&mut [], &mut [], false)
}

/// Called (with the GIL held) for every code object about to be freed while tracking.
pub extern "C" fn on_code_death(code: *mut c_void) {
    let _guard = Guard::enter();
    if let Some(state) = STATE.lock().as_mut() {
        state.forget_code(code as usize);
    }
}
