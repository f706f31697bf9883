//! Memory over time, per location, for the temporal views. The capture's memory samples cut
//! it into intervals (interval k holds the events before sample k; the last one, those after
//! the last sample).
//!
//! - [`TemporalPeaks`]: for every interval, the heap's peak inside it, and for every location
//!   its live bytes at that peak, stored as runs (a new run only when the value changes), so a
//!   reader can show the peak of any range of intervals.
//! - Lifetimes ([`super::lifetimes`]): allocations grouped by location, allocation interval
//!   and free interval, so a reader can show what was allocated in a range and not freed by its
//!   end.

use crate::observer::{End, Observer, Sample};
use crate::replay::Analysis;

/// One location's live (bytes, count) at interval peaks: `(first interval, bytes, count)` runs.
pub type Runs = Vec<(u32, u64, u64)>;

#[derive(Debug, Clone, Copy, Default)]
struct Loc {
    /// Generation of the interval peak `at_peak` was taken at.
    gen: u32,
    at_peak: (u64, u64),
    /// interval + 1 when last changed (0: never).
    changed_in: u32,
    /// interval + 1 when last written out.
    evaluated_in: u32,
    last_run: (u64, u64),
}

#[derive(Debug, Default)]
pub struct TemporalPeaks {
    interval: u32,
    peak: u64,
    gen: u32,
    locs: Vec<Loc>,
    changed: Vec<u32>,
    changed_before: Vec<u32>,
    /// The heap's peak inside each finished interval.
    pub peaks: Vec<u64>,
    pub runs: Vec<Runs>,
}

impl TemporalPeaks {
    pub fn new_location(&mut self) {
        self.locs.push(Loc {
            gen: self.gen,
            ..Default::default()
        });
        self.runs.push(Vec::new());
    }

    /// Called before location `idx` changes from `live`.
    #[inline]
    pub fn before_change(&mut self, idx: u32, live: (u64, u64)) {
        let interval = self.interval.saturating_add(1);
        let l = &mut self.locs[idx as usize];
        if l.gen != self.gen {
            l.at_peak = live;
            l.gen = self.gen;
        }
        if l.changed_in != interval {
            l.changed_in = interval;
            self.changed.push(idx);
        }
    }

    /// Called after every allocation with the new heap size.
    #[inline]
    pub fn after_allocation(&mut self, heap: u64) {
        if heap >= self.peak {
            self.peak = heap;
            // A generation is only compared for equality: wrapping keeps it changing.
            self.gen = self.gen.wrapping_add(1);
        }
    }

    /// Closes the current interval; `live(idx)` gives a location's current value.
    pub fn end_interval(&mut self, heap: u64, live: impl Fn(u32) -> (u64, u64)) {
        let interval = self.interval;
        let mark = interval.saturating_add(1);
        let changed = std::mem::take(&mut self.changed);
        for &idx in changed.iter().chain(self.changed_before.iter()) {
            let l = &mut self.locs[idx as usize];
            if l.evaluated_in == mark {
                continue;
            }
            l.evaluated_in = mark;
            let v = if l.gen == self.gen {
                l.at_peak
            } else {
                live(idx)
            };
            if v != l.last_run {
                l.last_run = v;
                self.runs[idx as usize].push((interval, v.0, v.1));
            }
        }
        self.changed_before = changed;
        self.peaks.push(self.peak);
        self.interval = self.interval.saturating_add(1);
        self.peak = heap;
        self.gen = self.gen.wrapping_add(1);
    }
}

impl Observer for TemporalPeaks {
    fn location(&mut self, _loc: u32) {
        self.new_location();
    }

    #[inline]
    fn change(&mut self, loc: u32, live: (u64, u64)) {
        self.before_change(loc, live);
    }

    #[inline]
    fn heap_after_allocation(&mut self, heap: u64) {
        self.after_allocation(heap);
    }

    fn sample(&mut self, s: &Sample<'_>) {
        let locs = s.locations;
        self.end_interval(s.heap, |i| {
            let l = &locs[i as usize].1;
            (l.live_bytes, l.live_count)
        });
    }

    fn finish(mut self: Box<Self>, end: &End<'_>, out: &mut Analysis) {
        // The events after the last sample form the last interval.
        let locs = end.locations;
        self.end_interval(end.heap, |i| {
            let l = &locs[i as usize].1;
            (l.live_bytes, l.live_count)
        });
        out.interval_peaks = self.peaks;
        out.interval_runs = self.runs;
    }
}
