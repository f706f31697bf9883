//! A mutex that survives `fork`: a futex word that the fork handlers take before the fork,
//! release in the parent, and set back to unlocked in the child (where no other thread, and so
//! no waiter, exists any more). Taking and releasing an uncontended lock is one atomic
//! instruction each, inlined into the hooks (no call into libc); a contended lock sleeps in
//! the kernel. Taking it never allocates.
//!
//! The word is 0 (unlocked), 1 (locked, no waiter) or 2 (locked, maybe waiters), the classic
//! three-state futex mutex: a releaser that finds 2 wakes one sleeper.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

pub struct ForkSafeMutex<T> {
    word: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by the lock word.
unsafe impl<T: Send> Sync for ForkSafeMutex<T> {}

pub struct Guard<'a, T> {
    lock: &'a ForkSafeMutex<T>,
}

impl<T> ForkSafeMutex<T> {
    pub const fn new(value: T) -> Self {
        ForkSafeMutex {
            word: AtomicU32::new(UNLOCKED),
            value: UnsafeCell::new(value),
        }
    }

    #[inline(always)]
    pub fn lock(&self) -> Guard<'_, T> {
        self.acquire();
        Guard { lock: self }
    }

    #[inline(always)]
    fn acquire(&self) {
        // Not recursive: no code path takes it twice on one thread (hooks run under the
        // re-entrancy guard).
        if self
            .word
            .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
            .is_err()
        {
            self.acquire_contended();
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_contended(&self) {
        // Spin a little first: the lock is held for the few hundred nanoseconds of one record.
        for _ in 0..100 {
            if self.word.load(Relaxed) == UNLOCKED
                && self
                    .word
                    .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
                    .is_ok()
            {
                return;
            }
            std::hint::spin_loop();
        }
        // Mark it contended; whoever holds it wakes a sleeper when releasing.
        while self.word.swap(CONTENDED, Acquire) != UNLOCKED {
            futex_wait(&self.word, CONTENDED);
        }
    }

    #[inline(always)]
    fn release(&self) {
        if self.word.swap(UNLOCKED, Release) == CONTENDED {
            futex_wake_one(&self.word);
        }
    }

    /// Before `fork`: takes the lock and keeps it, so the child never sees a half-written state.
    pub fn hold_for_fork(&self) {
        self.acquire();
    }

    /// After `fork`, in the parent: releases what `hold_for_fork` took.
    ///
    /// # Safety
    /// Only after `hold_for_fork` on this thread.
    pub unsafe fn release_after_fork(&self) {
        self.release();
    }

    /// After `fork`, in the child: the lock starts over, unlocked.
    ///
    /// # Safety
    /// Only in a freshly forked child, whose only thread is the one that forked.
    pub unsafe fn reset_in_child(&self) {
        self.word.store(UNLOCKED, Relaxed);
    }
}

/// Sleeps while `word` holds `expected` (or until woken; spurious wake-ups are fine).
fn futex_wait(word: &AtomicU32, expected: u32) {
    futex(word, libc::FUTEX_WAIT, expected);
}

/// Wakes one thread sleeping on `word`.
fn futex_wake_one(word: &AtomicU32) {
    futex(word, libc::FUTEX_WAKE, 1);
}

/// One private futex operation on `word` without a timeout. The program's errno is left as
/// it was (an interrupted or raced wait sets it).
#[cold]
fn futex(word: &AtomicU32, op: libc::c_int, value: u32) {
    let _errno = crate::tracker::KeepErrno::new();
    // SAFETY: the futex word is a live, aligned u32; a null timeout waits without a limit
    // (FUTEX_WAKE ignores it).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op | libc::FUTEX_PRIVATE_FLAG,
            value,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the mutex.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.lock.release();
    }
}
