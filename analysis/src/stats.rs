//! The figures `memray stats` reports, computed from one replay: totals, the size histogram,
//! the allocator distribution, and the top locations and modules by bytes and by count.

use rustc_hash::FxHashMap;

use super::definitions::Definitions;
use super::modules::ModuleResolver;
use super::replay::Analysis;
use memray_format::records::AllocatorType;

/// One histogram bin: allocations of `min_bytes..=max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    pub min_bytes: u64,
    /// The bin's upper bound as Memray computes it (exclusive, except for the last bin).
    pub upper: u64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub name: String,
    pub bytes: u64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub total_num_allocations: u64,
    pub total_bytes_allocated: u64,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    pub histogram: Vec<Bin>,
    /// Allocators seen, by count descending.
    pub allocator_distribution: Vec<(AllocatorType, u64)>,
    pub top_by_size: Vec<Ranked>,
    pub top_by_count: Vec<Ranked>,
    pub modules_by_size: Vec<Ranked>,
    pub modules_by_count: Vec<Ranked>,
}

pub const HISTOGRAM_BINS: usize = 10;

/// Log-scale bins between the smallest non-zero and the largest size (Memray's rule: natural
/// log, bounds truncated to integers, sizes past the last bound go into the last bin).
pub fn histogram(size_counts: &FxHashMap<u64, u64>, bins: usize) -> Vec<Bin> {
    let min_nonzero = size_counts.keys().copied().filter(|&s| s > 0).min();
    let max = size_counts.keys().copied().max();
    let (Some(min_nz), Some(max)) = (min_nonzero, max) else {
        return Vec::new();
    };
    let mut low = (min_nz as f64).ln();
    let high = (max as f64).ln();
    if low == high {
        low /= 2.0;
    }
    let step = (high - low) / bins as f64;
    let mut counts = vec![0u64; bins];
    for (&size, &n) in size_counts {
        let b = if size == 0 || step == 0.0 {
            if size == 0 {
                0
            } else {
                bins - 1
            }
        } else {
            let x = (((size as f64).ln() - low) / step).floor();
            if x < 0.0 {
                0
            } else {
                (x as usize).min(bins - 1)
            }
        };
        counts[b] = counts[b].saturating_add(n);
    }
    let mut start = 0u64;
    (0..bins)
        .map(|i| {
            let upper = (low + step * (i + 1) as f64).exp() as u64;
            let bin = Bin {
                min_bytes: start,
                upper,
                count: counts[i],
            };
            start = upper;
            bin
        })
        .collect()
}

/// Sorts by `key` descending; equal keys put the later-seen entry first and the entry without a
/// Python stack last (Memray's heap order: its no-stack key is an empty `optional`, which sorts
/// below every location id). Each item is tagged `(has a stack, first-seen index)`.
fn top_n(
    mut items: Vec<((bool, usize), Ranked)>,
    n: usize,
    key: impl Fn(&Ranked) -> u64,
) -> Vec<Ranked> {
    items.sort_by(|a, b| key(&b.1).cmp(&key(&a.1)).then(b.0.cmp(&a.0)));
    items.into_iter().take(n).map(|(_, r)| r).collect()
}

/// `function:file:line` of a stack's innermost frame, as Memray prints locations.
pub fn location_name(defs: &Definitions, stack: u32) -> String {
    match defs.top_frame(stack) {
        Some(f) if f.function != "<unknown>" => format!("{}:{}:{}", f.function, f.filename, f.line),
        _ => "<stack trace unavailable>".to_string(),
    }
}

pub fn compute(a: &Analysis, n: usize) -> Stats {
    let mut by_alloc: FxHashMap<AllocatorType, u64> = FxHashMap::default();
    // Locations by innermost frame, in order of first appearance.
    let mut loc_index: FxHashMap<String, usize> = FxHashMap::default();
    let mut locs: Vec<Ranked> = Vec::new();
    let mut located: Vec<bool> = Vec::new();
    let mut by_stack: FxHashMap<u32, (u64, u64)> = FxHashMap::default();
    let mut stack_order: Vec<u32> = Vec::new();
    for (key, s) in &a.locations {
        if s.total_count == 0 {
            continue;
        }
        let n = by_alloc.entry(key.allocator).or_default();
        *n = n.saturating_add(s.total_count);
        let name = location_name(&a.defs, key.stack);
        let i = *loc_index.entry(name.clone()).or_insert_with(|| {
            locs.push(Ranked {
                name,
                bytes: 0,
                count: 0,
            });
            located.push(a.defs.top_frame(key.stack).is_some());
            locs.len() - 1
        });
        locs[i].bytes = locs[i].bytes.saturating_add(s.total_bytes);
        locs[i].count = locs[i].count.saturating_add(s.total_count);
        let e = by_stack.entry(key.stack).or_insert_with(|| {
            stack_order.push(key.stack);
            (0, 0)
        });
        e.0 = e.0.saturating_add(s.total_bytes);
        e.1 = e.1.saturating_add(s.total_count);
    }
    let mut allocator_distribution: Vec<(AllocatorType, u64)> = by_alloc.into_iter().collect();
    allocator_distribution.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let resolver = ModuleResolver::new(&a.header);
    let mut mod_index: FxHashMap<String, usize> = FxHashMap::default();
    let mut mods: Vec<Ranked> = Vec::new();
    for stack in stack_order {
        let (bytes, count) = by_stack[&stack];
        let name = resolver.module_for_stack(&a.defs, stack);
        let i = *mod_index.entry(name.clone()).or_insert_with(|| {
            mods.push(Ranked {
                name,
                bytes: 0,
                count: 0,
            });
            mods.len() - 1
        });
        mods[i].bytes = mods[i].bytes.saturating_add(bytes);
        mods[i].count = mods[i].count.saturating_add(count);
    }
    let stable = |v: &Vec<Ranked>, key: fn(&Ranked) -> u64| {
        let mut v = v.clone();
        v.sort_by_key(|r| std::cmp::Reverse(key(r)));
        v.truncate(n);
        v
    };
    let indexed: Vec<((bool, usize), Ranked)> = locs
        .into_iter()
        .enumerate()
        .map(|(i, r)| ((located[i], i), r))
        .collect();
    let sizes = allocation_sizes(a);
    Stats {
        total_num_allocations: a.n_allocations,
        total_bytes_allocated: a.bytes_allocated,
        min_size: sizes.keys().copied().min(),
        max_size: sizes.keys().copied().max(),
        histogram: histogram(&sizes, HISTOGRAM_BINS),
        allocator_distribution,
        top_by_size: top_n(indexed.clone(), n, |r| r.bytes),
        top_by_count: top_n(indexed, n, |r| r.count),
        modules_by_size: stable(&mods, |r| r.bytes),
        modules_by_count: stable(&mods, |r| r.count),
    }
}

/// The allocations' sizes, with their counts. A sampled capture records the bytes each
/// allocation stands for; the histogram shows the sizes allocated, turned back from them, each
/// counted as the allocations it stands for.
fn allocation_sizes(a: &Analysis) -> std::borrow::Cow<'_, FxHashMap<u64, u64>> {
    let rate = a.header.sample_every;
    if rate == 0 {
        return std::borrow::Cow::Borrowed(&a.size_counts);
    }
    let mut sizes = FxHashMap::default();
    for (&w, &n) in &a.size_counts {
        let c: &mut u64 = sizes
            .entry(memray_format::sampling::size_of(w, rate))
            .or_default();
        let count = (n as f64 * memray_format::sampling::counts(w, rate)).round() as u64;
        *c = c.saturating_add(count);
    }
    std::borrow::Cow::Owned(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(sizes: &[(u64, u64)], bins: usize) -> Vec<(u64, u64)> {
        let m: FxHashMap<u64, u64> = sizes.iter().copied().collect();
        histogram(&m, bins)
            .iter()
            .map(|b| (b.upper, b.count))
            .collect()
    }

    #[test]
    fn histogram_matches_memray_bins() {
        let sizes = [
            (2500, 1),
            (11000, 2),
            (12000, 1),
            (60000, 1),
            (65000, 1),
            (120000, 1),
            (125000, 2),
            (160000, 1),
            (170000, 1),
            (180000, 1),
            (800000, 1),
            (1500000, 1),
        ];
        assert_eq!(
            bounds(&sizes, 5),
            vec![
                (8986, 1),
                (32299, 3),
                (116099, 2),
                (417312, 6),
                (1500000, 2)
            ]
        );
        let b: Vec<u64> = bounds(&[(32, 1), (1050856, 1)], 10)
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(
            b,
            vec![90, 256, 724, 2049, 5798, 16405, 46411, 131299, 371453, 1050856]
        );
        let one = bounds(&[(10_000_000_000, 3)], 10);
        assert_eq!(one[0], (316227, 0));
        assert_eq!(one[9], (10_000_000_000, 3));
    }
}
