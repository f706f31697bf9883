//! Memray's temporal records, built from an [`Analysis`] made with temporal peaks or lifetimes:
//! per group of locations, how many allocations and bytes it held over which intervals between
//! memory samples. Long captures are thinned as Memray does: with more than `max_records`
//! samples only every `stride`-th is kept, and the intervals are counted between kept samples.
//! `memray.FileReader`'s temporal methods and any program share this arithmetic.

use rustc_hash::FxHashMap;

use crate::replay::{Analysis, Snapshot};

/// What temporal records are grouped by (Memray's key): thread (0 when threads are merged),
/// allocator, stack, native stack, native segment generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemporalKey {
    pub thread: u32,
    pub allocator: u8,
    pub stack: u32,
    pub native_stack: u32,
    pub generation: u32,
}

/// Memray's `Interval`: allocations made before sample `allocated_before` and freed before
/// sample `deallocated_before` (None: never freed), or, for peaks, held from one to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub allocated_before: u32,
    pub deallocated_before: Option<u32>,
    pub n_allocations: u64,
    pub n_bytes: u64,
}

/// One group of locations and its intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporalRecord {
    pub key: TemporalKey,
    pub intervals: Vec<Interval>,
}

/// One location's (bytes, count) as runs: `(first interval, bytes, count)`.
type Run = (u32, u64, u64);

/// Every `stride`-th sample, when there are more than `max_records` (0: no limit).
pub fn thin(snapshots: &[Snapshot], max_records: usize) -> (usize, Vec<&Snapshot>) {
    if max_records == 0 || snapshots.len() <= max_records {
        return (1, snapshots.iter().collect());
    }
    let stride = snapshots.len().div_ceil(max_records);
    (stride, snapshots.iter().step_by(stride).collect())
}

/// The kept-sample interval that full interval `i` (events after `i` samples) falls in.
fn coarse(i: u32, stride: u32) -> u32 {
    i.div_ceil(stride)
}

/// Groups location indices by (allocator, stack, native stack) and, unless merged, thread, in
/// order of first appearance. Returns each group's key and members.
fn groups(a: &Analysis, merge_threads: bool) -> Vec<(TemporalKey, Vec<usize>)> {
    let mut index: FxHashMap<TemporalKey, usize> = FxHashMap::default();
    let mut out: Vec<(TemporalKey, Vec<usize>)> = Vec::new();
    for (i, (k, _)) in a.locations.iter().enumerate() {
        let key = TemporalKey {
            thread: if merge_threads { 0 } else { k.thread },
            allocator: k.allocator as u8,
            stack: k.stack,
            native_stack: k.native_stack,
            generation: 0,
        };
        let g = *index.entry(key).or_insert_with(|| {
            out.push((key, Vec::new()));
            out.len() - 1
        });
        out[g].1.push(i);
    }
    out
}

/// A location's runs over full intervals, re-expressed as runs over kept-sample intervals
/// (each takes the value at the peak of the highest full interval inside it, the later one on
/// ties).
fn coarse_runs(runs: &[Run], peaks: &[u64], stride: u32) -> Vec<Run> {
    if stride <= 1 {
        return runs.to_vec();
    }
    let value_at = |i: u32| -> (u64, u64) {
        match runs.partition_point(|r| r.0 <= i) {
            0 => (0, 0),
            n => (runs[n - 1].1, runs[n - 1].2),
        }
    };
    let n_full = peaks.len() as u32;
    let highest_in = |k: u32| -> u32 {
        // Full intervals i with ceil(i / stride) == k.
        let (lo, hi) = if k == 0 {
            (0, 0)
        } else {
            (
                (k - 1).saturating_mul(stride).saturating_add(1),
                k.saturating_mul(stride).min(n_full.saturating_sub(1)),
            )
        };
        let mut best = lo;
        for i in lo..=hi.max(lo) {
            if peaks.get(i as usize) >= peaks.get(best as usize) {
                best = i;
            }
        }
        best
    };
    // The value can only change in a kept interval holding a run start, or the one after.
    let mut candidates: Vec<u32> = runs
        .iter()
        .flat_map(|r| {
            let k = coarse(r.0, stride);
            [k, k.saturating_add(1)]
        })
        .filter(|&k| k <= coarse(n_full.saturating_sub(1), stride))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut out = Vec::new();
    let mut last = (0, 0);
    for k in candidates {
        let v = value_at(highest_in(k));
        if v != last {
            out.push((k, v.0, v.1));
            last = v;
        }
    }
    out
}

/// Sums piecewise-constant run lists into one (saturating at `u64::MAX`).
fn sum_runs(members: &[Vec<Run>]) -> Vec<Run> {
    if members.len() == 1 {
        return members[0].clone();
    }
    let mut starts: Vec<(u32, usize, u64, u64)> = members
        .iter()
        .enumerate()
        .flat_map(|(m, runs)| runs.iter().map(move |r| (r.0, m, r.1, r.2)))
        .collect();
    starts.sort_unstable_by_key(|s| (s.0, s.1));
    let mut current = vec![(0u64, 0u64); members.len()];
    // Exact sums of the members' current values (a running total taken apart again as a
    // member changes cannot saturate), saturated as they are written out.
    let mut total = (0u128, 0u128);
    let saturated = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    let mut i = 0;
    while i < starts.len() {
        let k = starts[i].0;
        while i < starts.len() && starts[i].0 == k {
            let (_, m, b, c) = starts[i];
            total.0 = total.0 - u128::from(current[m].0) + u128::from(b);
            total.1 = total.1 - u128::from(current[m].1) + u128::from(c);
            current[m] = (b, c);
            i += 1;
        }
        let sum = (saturated(total.0), saturated(total.1));
        if out.last().map(|r: &Run| (r.1, r.2)) != Some(sum) {
            out.push((k, sum.0, sum.1));
        }
    }
    out
}

/// Runs as intervals: each run lasts until the next one starts.
fn runs_to_intervals(runs: &[Run]) -> Vec<Interval> {
    runs.iter()
        .enumerate()
        .map(|(i, r)| Interval {
            allocated_before: r.0,
            deallocated_before: runs.get(i + 1).map(|n| n.0),
            n_allocations: r.2,
            n_bytes: r.1,
        })
        .collect()
}

/// `get_temporal_high_water_mark_allocation_records`: for each group, its (count, bytes) at
/// the heap's peak inside each interval, as intervals over which it holds; and the peak of each
/// interval (one more than there are kept samples). `a` must be made with temporal peaks.
pub fn high_water_mark_records(
    a: &Analysis,
    merge_threads: bool,
    max_records: usize,
) -> (Vec<TemporalRecord>, Vec<u64>) {
    let stride = thin(&a.snapshots, max_records).0 as u32;
    let mut out = Vec::new();
    for (key, members) in groups(a, merge_threads) {
        let runs: Vec<Vec<Run>> = members
            .iter()
            .map(|&m| coarse_runs(&a.interval_runs[m], &a.interval_peaks, stride))
            .collect();
        let merged = sum_runs(&runs);
        if !merged.is_empty() {
            out.push(TemporalRecord {
                key,
                intervals: runs_to_intervals(&merged),
            });
        }
    }
    let peaks = if stride <= 1 {
        a.interval_peaks.clone()
    } else {
        let mut p: Vec<u64> = Vec::new();
        for (i, &v) in a.interval_peaks.iter().enumerate() {
            let k = coarse(i as u32, stride) as usize;
            if p.len() <= k {
                p.resize(k + 1, 0);
            }
            p[k] = p[k].max(v);
        }
        p
    };
    (out, peaks)
}

/// `get_temporal_allocation_records`: for each group, its allocations grouped by the interval
/// they were made in and the one they were freed in (None: never freed), freed ones in order
/// and the never-freed last. `a` must be made with lifetimes.
pub fn allocation_records(
    a: &Analysis,
    merge_threads: bool,
    max_records: usize,
) -> Vec<TemporalRecord> {
    let stride = thin(&a.snapshots, max_records).0 as u32;
    let groups = groups(a, merge_threads);
    let mut group_of = vec![0usize; a.locations.len()];
    for (g, (_, members)) in groups.iter().enumerate() {
        for &m in members {
            group_of[m] = g;
        }
    }
    type Lifetimes = FxHashMap<(u32, Option<u32>), (u64, u64)>;
    let mut per_group: Vec<Lifetimes> = vec![Default::default(); groups.len()];
    for l in &a.lifetimes {
        let key = (
            coarse(l.allocated_in, stride),
            l.freed_in.map(|f| coarse(f, stride)),
        );
        let e = per_group[group_of[l.location as usize]]
            .entry(key)
            .or_default();
        e.0 = e.0.saturating_add(l.count);
        e.1 = e.1.saturating_add(l.bytes);
    }
    groups
        .into_iter()
        .zip(per_group)
        .filter(|(_, m)| !m.is_empty())
        .map(|((key, _), m)| {
            let mut intervals: Vec<Interval> = m
                .into_iter()
                .map(|((allocated, freed), (count, bytes))| Interval {
                    allocated_before: allocated,
                    deallocated_before: freed,
                    n_allocations: count,
                    n_bytes: bytes,
                })
                .collect();
            intervals.sort_unstable_by_key(|i| {
                (
                    i.allocated_before,
                    i.deallocated_before.is_none(),
                    i.deallocated_before,
                )
            });
            TemporalRecord { key, intervals }
        })
        .collect()
}
