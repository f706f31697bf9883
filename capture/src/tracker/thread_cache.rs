//! Each thread's cache of its last Python and native stacks (and the buffers its stacks are
//! read into), kept behind the thread's TLS word and freed at thread exit. The only way to it
//! is [`with_thread_cache`], which lends it to one caller at a time.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering::*};

use crate::seam::{self, Guard};

/// Frames a thread's buffers hold at first; they grow for deeper stacks.
pub(super) const INITIAL_DEPTH: usize = 256;

/// A thread's memory of its last stacks: frames root first, with the node each one produced.
pub(super) struct ThreadCache {
    pub(super) epoch: u32,
    pub(super) frames: Vec<(usize, i32, u32)>,
    pub(super) codes: Vec<*mut c_void>,
    /// Per frame: last instruction index << 1 | entry flag (see `seam::python_stack`).
    pub(super) words: Vec<i32>,
    pub(super) native_epoch: u32,
    /// The last native stack, root first: (return address, node).
    pub(super) native_frames: Vec<(usize, u32)>,
    /// Return addresses of the stack being recorded, innermost first.
    pub(super) ips: Vec<usize>,
}

impl ThreadCache {
    fn new() -> ThreadCache {
        ThreadCache {
            epoch: 0,
            frames: Vec::with_capacity(64),
            codes: vec![std::ptr::null_mut(); INITIAL_DEPTH],
            words: vec![0; INITIAL_DEPTH],
            native_epoch: 0,
            native_frames: Vec::new(),
            ips: Vec::new(),
        }
    }

    /// Reads the thread's Python stack into `codes`/`words`; returns its depth.
    pub(super) fn walk(&mut self, entries: bool) -> usize {
        loop {
            let n = seam::python_stack(&mut self.codes, &mut self.words, entries);
            if n <= self.codes.len() {
                return n;
            }
            let size = n.next_power_of_two();
            self.codes.resize(size, std::ptr::null_mut());
            self.words.resize(size, 0);
        }
    }
}

/// What a thread's TLS word points at: its cache, and whether it is lent out right now.
struct Slot {
    busy: Cell<bool>,
    cache: UnsafeCell<ThreadCache>,
}

/// The TLS word of a thread whose cache has been freed (it is exiting).
const DEAD: *mut c_void = std::ptr::dangling_mut::<c_void>();
static CACHE_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

extern "C" fn free_thread_cache(p: *mut c_void) {
    if !p.is_null() && p != DEAD {
        let _g = Guard::enter();
        seam::set_tls_state(DEAD);
        // SAFETY: `p` came from Box::into_raw in `slot` and is freed once, here, at thread
        // exit: the TLS word no longer points at it, and no `with_thread_cache` call is running
        // on this (exiting) thread, so nothing borrows it.
        drop(unsafe { Box::from_raw(p as *mut Slot) });
    }
}

/// Creates the pthread key whose destructor frees each thread's cache at thread exit.
pub fn init_thread_key() {
    if CACHE_KEY.load(Acquire) != u32::MAX {
        return;
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid place for the new key; the destructor is an `extern "C"` fn
    // that stays loaded (the extension module is never unloaded).
    if unsafe { libc::pthread_key_create(&mut key, Some(free_thread_cache)) } == 0 {
        CACHE_KEY.store(key, Release);
    }
}

/// The calling thread's slot, created at its first use; None once the thread is exiting (or
/// before `init_thread_key`). The pointer is valid until the thread exits, and only the
/// calling thread may use it.
fn slot() -> Option<*const Slot> {
    let p = seam::tls_state();
    if p == DEAD {
        return None;
    }
    if !p.is_null() {
        return Some(p as *const Slot);
    }
    let key = CACHE_KEY.load(Acquire);
    if key == u32::MAX {
        return None;
    }
    let slot = Box::into_raw(Box::new(Slot {
        busy: Cell::new(false),
        cache: UnsafeCell::new(ThreadCache::new()),
    }));
    seam::set_tls_state(slot as *mut c_void);
    // SAFETY: the key exists; keys below 32 store the value without allocating.
    unsafe { libc::pthread_setspecific(key, slot as *const c_void) };
    Some(slot)
}

/// Clears a slot's `busy` flag when the borrow ends (even by unwinding).
struct Lent<'a>(&'a Cell<bool>);

impl Drop for Lent<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Runs `f` with the calling thread's stack cache, or with None when the thread has none (it
/// is exiting) or when its cache is already lent out further up this thread's stack (a
/// re-entered call gets None rather than a second `&mut` to the same cache).
#[inline(always)]
pub(super) fn with_thread_cache<R>(f: impl FnOnce(Option<&mut ThreadCache>) -> R) -> R {
    let Some(slot) = slot() else {
        return f(None);
    };
    // SAFETY: `slot` points at this thread's live Slot (see `slot`); it is freed only by
    // `free_thread_cache` at thread exit, which cannot run during this call. Only shared
    // references to the Slot itself are ever made.
    let slot = unsafe { &*slot };
    if slot.busy.replace(true) {
        return f(None);
    }
    let _lent = Lent(&slot.busy);
    // SAFETY: `busy` was false and is now true until `_lent` drops: no other reference to
    // the cache exists on this thread, and no other thread ever reaches this thread's slot.
    f(Some(unsafe { &mut *slot.cache.get() }))
}
