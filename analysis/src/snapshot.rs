//! Aggregated views of a replay that reports and the Python API share: the allocations live at
//! the high-water mark or leaked at the end, grouped by stack (and thread unless merged).

use rustc_hash::FxHashMap;

use super::replay::{Analysis, LocKey, LocStats};
use memray_format::records::AllocatorType;

/// Which moment's live allocations to aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Live at the high-water mark.
    Peak,
    /// Still live when tracking stopped.
    Leaks,
    /// Temporary allocations (the replay must have been asked to find them).
    Temporary,
}

/// One group of allocations with the same stack (and thread, unless merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aggregate {
    /// Thread of the group's first allocation.
    pub thread: u32,
    pub address: u64,
    pub size: u64,
    pub allocator: AllocatorType,
    pub stack: u32,
    pub native_stack: u32,
    pub count: u64,
}

/// The groups with a non-zero count, in order of their first allocation.
pub fn aggregate(a: &Analysis, view: View, merge_threads: bool) -> Vec<Aggregate> {
    match view {
        View::Peak => group(
            a.locations
                .iter()
                .map(|(k, s)| (*k, s.peak_bytes, s.peak_count, s.first_address)),
            merge_threads,
        ),
        View::Leaks => group(
            a.locations
                .iter()
                .map(|(k, s)| (*k, s.live_bytes, s.live_count, s.first_address)),
            merge_threads,
        ),
        View::Temporary => group(
            a.temporary
                .iter()
                .map(|t| (t.key, t.bytes, t.count, t.first_address)),
            merge_threads,
        ),
    }
}

/// What is live at this moment in a replay still being fed (live mode), grouped as
/// [`aggregate`] groups a finished one.
pub fn live_now(locations: &[(LocKey, LocStats)], merge_threads: bool) -> Vec<Aggregate> {
    group(
        locations
            .iter()
            .map(|(k, s)| (*k, s.live_bytes, s.live_count, s.first_address)),
        merge_threads,
    )
}

/// Groups (location, bytes, count, first address) by stack, and by thread unless merged.
fn group(
    items: impl Iterator<Item = (LocKey, u64, u64, u64)>,
    merge_threads: bool,
) -> Vec<Aggregate> {
    let mut index: FxHashMap<(u32, u32, u32), usize> = FxHashMap::default();
    let mut out: Vec<Aggregate> = Vec::new();
    for (key, bytes, count, first_address) in items {
        if count == 0 {
            continue;
        }
        let thread_key = if merge_threads { 0 } else { key.thread };
        let i = *index
            .entry((key.stack, key.native_stack, thread_key))
            .or_insert_with(|| {
                out.push(Aggregate {
                    thread: key.thread,
                    address: first_address,
                    size: 0,
                    allocator: key.allocator,
                    stack: key.stack,
                    native_stack: key.native_stack,
                    count: 0,
                });
                out.len() - 1
            });
        out[i].size = out[i].size.saturating_add(bytes);
        out[i].count = out[i].count.saturating_add(count);
    }
    out
}
