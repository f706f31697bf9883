//! The tracker's own threads (RSS sampler, capture writer). They are started with
//! `pthread_create` and hold the re-entrancy guard from their first instruction to their last,
//! so nothing they allocate — including what the C and Rust runtimes allocate for a new
//! thread's thread-locals — is ever recorded as the program's. They block every signal, so a
//! signal sent to the process always reaches one of the program's own threads, as it would
//! without the tracker. [`signals_held`] runs a step that a signal must not cut in two.

use std::ffi::c_void;

use crate::seam::Guard;

pub struct QuietThread {
    thread: libc::pthread_t,
    joined: bool,
}

type Body = Box<dyn FnOnce() + Send + 'static>;

extern "C" fn trampoline(arg: *mut c_void) -> *mut c_void {
    // Held until the thread is gone, thread-local destructors included.
    std::mem::forget(Guard::enter());
    // SAFETY: `arg` is the Box<Body> leaked by `spawn`, taken back exactly once.
    let body = unsafe { Box::from_raw(arg as *mut Body) };
    // A panic must not unwind into C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    std::ptr::null_mut()
}

impl QuietThread {
    /// Starts `body` on a new thread. Call with the guard held, so that creating it is not
    /// recorded either.
    pub fn spawn(body: impl FnOnce() + Send + 'static) -> std::io::Result<QuietThread> {
        let body: Box<Body> = Box::new(Box::new(body));
        let arg = Box::into_raw(body) as *mut c_void;
        let mut thread: libc::pthread_t = 0;
        // The new thread inherits the creating thread's signal mask: every signal blocked,
        // from its first instruction.
        // SAFETY: default attributes; `trampoline` takes ownership of `arg`.
        let rc = signals_held(|| unsafe {
            libc::pthread_create(&mut thread, std::ptr::null(), trampoline, arg)
        });
        if rc != 0 {
            // SAFETY: the thread was not created, so `arg` is still ours.
            drop(unsafe { Box::from_raw(arg as *mut Body) });
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(QuietThread {
            thread,
            joined: false,
        })
    }

    pub fn join(mut self) {
        self.joined = true;
        // SAFETY: joined once.
        unsafe { libc::pthread_join(self.thread, std::ptr::null_mut()) };
    }
}

impl Drop for QuietThread {
    fn drop(&mut self) {
        if !self.joined {
            // SAFETY: never joined: let it finish on its own.
            unsafe { libc::pthread_detach(self.thread) };
        }
    }
}

/// Runs `f` with every signal blocked on the calling thread, then puts its mask back: a signal
/// that arrives meanwhile (a Pool terminating its workers) is delivered after `f`, never in
/// the middle of it.
pub fn signals_held<R>(f: impl FnOnce() -> R) -> R {
    let old = block_signals();
    let r = f();
    restore_signals(&old);
    r
}

/// Blocks every signal on the calling thread; returns the mask it had.
pub fn block_signals() -> libc::sigset_t {
    // SAFETY: plain signal-mask calls on valid sets.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

/// Gives the calling thread the mask `old` (from [`block_signals`]) back.
pub fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}
