//! Lifetimes: allocations grouped by location, by the interval between memory samples they
//! were made in and the one they were freed in (or never), for Memray's
//! `get_temporal_allocation_records` (see [`crate::temporal_records`]).

use std::any::Any;

use rustc_hash::FxHashMap;

use crate::observer::{
    ChunkBatch, ChunkContext, ChunkObserver, End, NewChunkObserver, Observer, Release,
};
use crate::replay::Analysis;

/// Allocations of one location grouped by when they were made and freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub location: u32,
    pub allocated_in: u32,
    /// `None`: still live at the end.
    pub freed_in: Option<u32>,
    pub bytes: u64,
    pub count: u64,
}

/// (location, interval allocated in, interval freed in) -> (bytes, count).
type LifetimeMap = FxHashMap<(u32, u32, u32), (u64, u64)>;

fn add(map: &mut LifetimeMap, key: (u32, u32, u32), bytes: u64, count: u64) {
    let e = map.entry(key).or_default();
    e.0 = e.0.saturating_add(bytes);
    e.1 = e.1.saturating_add(count);
}

/// The lifetimes of everything freed so far.
#[derive(Debug, Default)]
pub struct Lifetimes {
    freed: LifetimeMap,
}

impl Observer for Lifetimes {
    fn release(&mut self, r: &Release) {
        add(
            &mut self.freed,
            (r.loc, r.allocated_in, r.freed_in),
            r.bytes,
            r.count,
        );
    }

    fn finish(self: Box<Self>, end: &End<'_>, out: &mut Analysis) {
        let mut still: FxHashMap<(u32, u32), (u64, u64)> = FxHashMap::default();
        for (size, idx, born) in end.live_blocks() {
            let e = still.entry((idx, born)).or_default();
            e.0 = e.0.saturating_add(size);
            e.1 = e.1.saturating_add(1);
        }
        let mut all: Vec<Lifetime> = self
            .freed
            .into_iter()
            .map(|((location, a, f), (bytes, count))| Lifetime {
                location,
                allocated_in: a,
                freed_in: Some(f),
                bytes,
                count,
            })
            .chain(
                still
                    .into_iter()
                    .map(|((location, a), (bytes, count))| Lifetime {
                        location,
                        allocated_in: a,
                        freed_in: None,
                        bytes,
                        count,
                    }),
            )
            .collect();
        all.sort_by_key(|l| (l.location, l.allocated_in, l.freed_in));
        out.lifetimes = all;
    }

    fn chunk_observers(&self) -> Option<NewChunkObserver> {
        Some(Box::new(|| Box::new(Lifetimes::default())))
    }

    fn merge(&mut self, part: Box<dyn Any + Send>, chunk: &ChunkContext<'_>) {
        if let Ok(freed) = part.downcast::<LifetimeMap>() {
            for ((loc, born, died), (bytes, count)) in *freed {
                let key = (chunk.loc(loc), chunk.interval(born), chunk.interval(died));
                add(&mut self.freed, key, bytes, count);
            }
        }
    }
}

/// A chunk's share is the same map, of the blocks it allocated and freed, in the chunk's own
/// terms.
impl ChunkObserver for Lifetimes {
    fn take(&mut self, batch: &ChunkBatch<'_>) {
        for (_, r) in batch.releases {
            self.release(r);
        }
    }

    fn done(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.freed)
    }
}
