//! The background thread that samples the process's resident set size every
//! `memory_interval_ms` and seals the pending chunk regularly, so a killed process leaves a
//! capture that is at most a moment behind.

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::Duration;

use crate::quiet_thread::QuietThread;
use crate::tracker::{FLUSH_EVERY, FLUSH_EVERY_LIVE, STATE};

pub struct Sampler {
    /// Dropping or sending on it wakes the thread and makes it stop.
    stop: Option<Sender<()>>,
    thread: Option<QuietThread>,
}

/// Resident set size in bytes, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

impl Sampler {
    /// Starts the thread; call with the guard held, so creating it is not recorded.
    pub fn start(interval_ms: u32) -> Sampler {
        let (stop, wake) = channel::<()>();
        let interval = Duration::from_millis(u64::from(interval_ms.max(1)));
        let thread = QuietThread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = wake.recv_timeout(interval) {
                let rss = rss_bytes();
                let mut st = STATE.lock();
                let Some(state) = st.as_mut() else { break };
                state.memory_sample(rss);
                let every = if state.live {
                    FLUSH_EVERY_LIVE
                } else {
                    FLUSH_EVERY
                };
                if state.last_flush.elapsed() >= every {
                    state.sync();
                }
            }
        })
        .ok();
        Sampler {
            stop: Some(stop),
            thread,
        }
    }

    /// Wakes the thread and waits for it to end.
    pub fn stop(mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            t.join();
        }
    }
}
