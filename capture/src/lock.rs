//! A mutex that survives `fork`: a plain pthread mutex that the fork handlers take before the
//! fork, release in the parent, and re-create unlocked in the child (where no other thread,
//! and so no waiter, exists any more). Taking it never allocates.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

pub struct ForkSafeMutex<T> {
    raw: UnsafeCell<libc::pthread_mutex_t>,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by the pthread mutex.
unsafe impl<T: Send> Sync for ForkSafeMutex<T> {}

pub struct Guard<'a, T> {
    lock: &'a ForkSafeMutex<T>,
}

impl<T> ForkSafeMutex<T> {
    pub const fn new(value: T) -> Self {
        ForkSafeMutex {
            raw: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> Guard<'_, T> {
        // SAFETY: the mutex is initialized; a default mutex is not recursive, and no code path
        // takes it twice on one thread (hooks run under the re-entrancy guard).
        unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        Guard { lock: self }
    }

    /// Before `fork`: takes the lock and keeps it, so the child never sees a half-written state.
    pub fn hold_for_fork(&self) {
        // SAFETY: as in `lock`.
        unsafe { libc::pthread_mutex_lock(self.raw.get()) };
    }

    /// After `fork`, in the parent: releases what `hold_for_fork` took.
    ///
    /// # Safety
    /// Only after `hold_for_fork` on this thread.
    pub unsafe fn release_after_fork(&self) {
        // SAFETY: by the contract, this thread holds the mutex (taken by `hold_for_fork`).
        unsafe { libc::pthread_mutex_unlock(self.raw.get()) };
    }

    /// After `fork`, in the child: the lock starts over, unlocked.
    ///
    /// # Safety
    /// Only in a freshly forked child, whose only thread is the one that forked.
    pub unsafe fn reset_in_child(&self) {
        // SAFETY: by the contract, no other thread exists to use the mutex while it is
        // overwritten.
        unsafe { *self.raw.get() = libc::PTHREAD_MUTEX_INITIALIZER };
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
    fn drop(&mut self) {
        // SAFETY: this guard took the mutex.
        unsafe { libc::pthread_mutex_unlock(self.lock.raw.get()) };
    }
}
