//! The interface between the one replay ([`crate::replay::Replay`]) and the analyses that
//! watch it (Memray's aggregator family): temporal peaks, lifetimes, temporary allocations, the
//! size histogram ([`crate::observers`]). The replay keeps the live set, the heap, the peak and
//! each location's totals; an [`Observer`] is told what happens to them and adds its own
//! results to the [`Analysis`] at the end. A new analysis is a new observer: the replay does
//! not change.
//!
//! The parallel replay ([`crate::parallel`]) replays chunks on their own on worker threads,
//! then applies them to the replay in file order. An observer that follows events takes part
//! in it through a [`ChunkObserver`]: one per chunk, which sees the chunk's events in batches
//! (with the chunk's own location indices and intervals), and whose result the observer
//! merges. The
//! events a chunk hands to its chunk observers are not told to the observer again; what only
//! the whole capture knows (releases of blocks from earlier chunks, the heap at each moment,
//! samples) is told to the observer as the chunk is applied.

use std::any::Any;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::replay::{Analysis, LocKey, LocStats};
use memray_format::records::Event;

/// An allocation event (every allocator but the deallocators; `mmap` included).
#[derive(Debug, Clone, Copy)]
pub struct Allocation<'a> {
    pub event: &'a Event,
    /// Its location's index (in order of first appearance).
    pub loc: u32,
    /// The interval it was made in (the number of memory samples before it).
    pub interval: u32,
}

/// Part of the live set released: by a free, an `munmap` (of a whole mapping or a piece of
/// one), or an allocation over a block whose free the tracker did not see.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    pub loc: u32,
    pub bytes: u64,
    /// Allocations that end (an `munmap` that splits a mapping ends none).
    pub count: u64,
    pub allocated_in: u32,
    pub freed_in: u32,
}

/// A memory sample: it ends the current interval.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The heap when the sample was taken.
    pub heap: u64,
    /// Every location with its figures at this moment.
    pub locations: &'a [(LocKey, LocStats)],
}

/// The replay's state at the end of the capture.
pub struct End<'a> {
    /// Live blocks: address -> (size, location, interval allocated in).
    pub(crate) blocks: &'a FxHashMap<u64, (u64, u32, u32)>,
    /// Live mappings: start -> (length, location, interval allocated in).
    pub(crate) ranges: &'a BTreeMap<u64, (u64, u32, u32)>,
    pub locations: &'a [(LocKey, LocStats)],
    pub heap: u64,
}

impl End<'_> {
    /// Every block and mapping still live: (size, location, interval allocated in).
    pub fn live_blocks(&self) -> impl Iterator<Item = (u64, u32, u32)> + '_ {
        self.blocks.values().chain(self.ranges.values()).copied()
    }
}

/// An analysis that watches the replay. Every method but [`Observer::finish`] does nothing
/// unless the observer wants it.
pub trait Observer: Send {
    /// A new location, with the next index.
    fn location(&mut self, _loc: u32) {}
    /// An allocation event, before the replay takes it.
    fn allocation(&mut self, _a: &Allocation<'_>) {}
    /// A deallocation event (free, pymalloc free, `munmap`), before what it releases.
    fn free(&mut self, _e: &Event) {}
    /// Part of the live set is released.
    fn release(&mut self, _r: &Release) {}
    /// Location `loc`'s live (bytes, count) are about to change from `live`.
    fn change(&mut self, _loc: u32, _live: (u64, u64)) {}
    /// The heap just after an allocation that may be a peak (every allocation in an
    /// event-by-event replay; the highest of each stretch in a parallel one).
    fn heap_after_allocation(&mut self, _heap: u64) {}
    /// A memory sample ends the current interval.
    fn sample(&mut self, _s: &Sample<'_>) {}
    /// The end of the capture: the observer puts its results into `out`.
    fn finish(self: Box<Self>, end: &End<'_>, out: &mut Analysis);

    /// For the parallel replay: what makes a fresh observer of one chunk replayed on its own,
    /// on any thread (None: this observer needs no chunk's events).
    fn chunk_observers(&self) -> Option<NewChunkObserver> {
        None
    }
    /// Takes the result of a chunk observer this observer made, as its chunk is applied.
    fn merge(&mut self, _part: Box<dyn Any + Send>, _chunk: &ChunkContext<'_>) {}
}

/// Makes the [`ChunkObserver`] of one chunk.
pub type NewChunkObserver = Box<dyn Fn() -> Box<dyn ChunkObserver> + Send + Sync>;

/// One chunk's share of an [`Observer`]'s work, on a worker thread. It is handed what happens
/// in the chunk in batches, in order. Location indices and intervals are the chunk's own (see
/// [`ChunkContext`]).
pub trait ChunkObserver: Send {
    fn take(&mut self, batch: &ChunkBatch<'_>);
    /// The chunk's result, for [`Observer::merge`].
    fn done(self: Box<Self>) -> Box<dyn Any + Send>;
}

/// The location of an event that is not an allocation, in [`ChunkBatch::locs`].
pub const NO_LOCATION: u32 = u32::MAX;

/// Consecutive events of a chunk and what they did.
pub struct ChunkBatch<'a> {
    pub events: &'a [Event],
    /// `locs[i]`: the chunk's location of `events[i]`, or [`NO_LOCATION`] for a deallocation.
    pub locs: &'a [u32],
    /// The releases of blocks the chunk allocated, in order, each with the index in `events`
    /// of the event that caused it.
    pub releases: &'a [(u32, Release)],
}

impl ChunkBatch<'_> {
    /// The allocations: each event with its location.
    pub fn allocations(&self) -> impl Iterator<Item = (&Event, u32)> + '_ {
        self.events
            .iter()
            .zip(self.locs)
            .filter(|(_, &loc)| loc != NO_LOCATION)
            .map(|(e, &loc)| (e, loc))
    }
}

/// How a chunk's own location indices and intervals map to the whole capture's.
pub struct ChunkContext<'a> {
    /// `index[local]` is the capture's index of the chunk's location `local`.
    pub(crate) index: &'a [u32],
    pub(crate) locations: &'a [(LocKey, LocStats)],
    /// Memory samples before the chunk.
    pub(crate) interval_base: u32,
}

impl ChunkContext<'_> {
    /// The capture's index of the chunk's location `local`.
    pub fn loc(&self, local: u32) -> u32 {
        self.index[local as usize]
    }

    /// The key of the chunk's location `local`.
    pub fn key(&self, local: u32) -> LocKey {
        self.locations[self.loc(local) as usize].0
    }

    /// The capture's interval of the chunk's interval `local`.
    pub fn interval(&self, local: u32) -> u32 {
        self.interval_base.saturating_add(local)
    }
}
