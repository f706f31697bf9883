//! The per-chunk half of the parallel replay: one chunk's events replayed on their own, as if
//! nothing were live when it starts, into a [`Summary`] that [`super::parallel`] applies to the
//! whole-capture [`Replay`](super::replay::Replay) in file order ([`Replay::apply`]). The
//! observers that follow events see the chunk's through their chunk observers
//! ([`super::observer::ChunkObserver`]).
//!
//! [`Replay::apply`]: super::replay::Replay::apply
//!
//! What a chunk cannot settle alone becomes a step the merge replays against the global state:
//! a free of an address the chunk never allocated (the block came from an earlier chunk), every
//! `mmap`/`munmap`, and each memory sample. Between two such steps the heap is "what it was
//! plus the chunk's own net change", so of all the allocations in that stretch only the last
//! one reaching the stretch's highest heap can be a peak (global or per interval): the summary
//! keeps, per stretch, the locations' net changes up to that allocation, the allocation, and
//! the changes after it. The merge applies them in order and sees exactly the states the
//! sequential replay sees at every moment that matters.
//!
//! An allocation at an address still live from an earlier chunk (a free the tracker missed)
//! would release that block first; the chunk cannot tell, so it lists the addresses it
//! allocated before freeing them (`fresh`) and the merge replays the chunk event by event
//! when one of them is live.

use std::any::Any;

use rustc_hash::FxHashMap;

use super::observer::{ChunkBatch, ChunkObserver, NewChunkObserver, Release, NO_LOCATION};
use super::replay::LocKey;
use memray_format::chunk::{decode_records, Chunk, ChunkHeader, Record};
use memray_format::error::Result;
use memray_format::records::{AllocatorType, Event, MemorySample};

/// What makes the chunk observers of a pass, with the index of the observer each one is for.
pub(super) type ChunkObservers<'a> = &'a [(usize, NewChunkObserver)];

/// What every chunk's pass starts from: its observers, and the capture's sampling rate (each
/// allocation of a sampled capture counts as the allocations it stands for).
#[derive(Clone, Copy)]
pub(super) struct PassSetup<'a> {
    pub observers: ChunkObservers<'a>,
    pub sample_every: u64,
}

/// One thing the merge does, in event order.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// A location's live figures change by this net amount (wrapping: exact modulo 2^64).
    Delta {
        loc: u32,
        bytes: u64,
        count: u64,
    },
    /// The allocation with this index in the chunk holds its stretch's highest heap.
    Candidate {
        event: u32,
    },
    Sample(MemorySample),
    /// A free of an address not allocated earlier in the chunk.
    Free {
        address: u64,
    },
    /// An `mmap` or `munmap`, replayed as it is (event index in the chunk).
    Ranged {
        event: u32,
        e: Event,
    },
}

/// One chunk replayed on its own.
#[derive(Debug, Default)]
pub(super) struct Summary {
    /// The chunk's definitions and aggregated figures (no events).
    pub chunk: Chunk,
    pub n_events: u32,
    /// Locations in order of first appearance: key and first address.
    pub locs: Vec<(LocKey, u64)>,
    /// Per location: bytes (saturating) and count allocated (mmap excluded).
    pub totals: Vec<(u64, u64)>,
    /// Allocation and deallocation events and bytes allocated (mmap/munmap excluded).
    pub n_allocations: u64,
    pub n_deallocations: u64,
    pub bytes_allocated: u64,
    /// The exact sum of every allocation's size, mmap included.
    pub alloc_sum: u128,
    pub steps: Vec<Step>,
    /// Addresses whose first event in the chunk is an allocation.
    pub fresh: Vec<u64>,
    /// Blocks still live at the end: address, size, location, interval allocated in.
    pub survivors: Vec<(u64, u64, u32, u32)>,
    /// What each chunk observer found, with the index of its observer.
    pub parts: Vec<(usize, Box<dyn Any + Send>)>,
    /// For a stream: the decompressed payload, in case the merge must replay it event by event.
    pub payload: Option<Vec<u8>>,
}

/// Location marker of an address freed in this chunk.
const DEAD: u32 = u32::MAX;
/// Entries of the location cache (a power of two).
const LOC_CACHE: usize = 64;

/// A location's net change in the current stretch (wrapping: exact modulo 2^64, which is
/// exact once added to the merge's figures) and its value at the stretch's highest heap so far.
#[derive(Clone, Copy, Default)]
struct LocChange {
    bytes: u64,
    count: u64,
    at_bytes: u64,
    at_count: u64,
    /// `at_*` hold the value at the stretch's highest heap when this equals `Pass::gen`.
    gen: u32,
    changed: bool,
}

struct Pass {
    out: Summary,
    keys: FxHashMap<LocKey, u32>,
    cache: [(LocKey, u32); LOC_CACHE],
    /// Address -> (size, location or DEAD, interval allocated in) of every address seen.
    blocks: FxHashMap<u64, (u64, u32, u32)>,
    /// The chunk's own net heap change so far (wrapping: a sum past 2^64 is replayed anyway).
    heap: u64,
    interval: u32,
    n_events: u32,
    /// The current stretch: whether it has an allocation, its highest heap and where.
    stretch_alloc: bool,
    stretch_max: u64,
    argmax: u32,
    /// Bumped at every new highest heap of the stretch (and at its end).
    gen: u32,
    changes: Vec<LocChange>,
    changed: Vec<u32>,
    /// The chunk observers, with the index of the observer each one is for, and what they
    /// have not been told yet (see [`ChunkBatch`]).
    observers: Vec<(usize, Box<dyn ChunkObserver>)>,
    untold: Box<[Event; BATCH]>,
    untold_locs: Box<[u32; BATCH]>,
    n_untold: usize,
    untold_releases: Vec<(u32, Release)>,
    /// A sampled capture's rate: each allocation counts as the allocations it stands for.
    sample_every: u64,
}

/// Events the chunk observers are told at a time.
const BATCH: usize = 256;

impl Pass {
    #[inline]
    fn loc(&mut self, e: &Event) -> u32 {
        let key = LocKey::of(e);
        let slot = (e.stack
            ^ e.native_stack.rotate_left(7)
            ^ e.thread.rotate_left(13)
            ^ e.allocator as u32) as usize
            & (LOC_CACHE - 1);
        if self.cache[slot].0 == key {
            return self.cache[slot].1;
        }
        let i = match self.keys.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.out.locs.len() as u32;
                self.out.locs.push((key, e.address));
                self.out.totals.push((0, 0));
                self.changes.push(LocChange::default());
                self.keys.insert(key, i);
                i
            }
        };
        self.cache[slot] = (key, i);
        i
    }

    /// Changes a location's net figures in the current stretch.
    #[inline]
    fn change(&mut self, loc: u32, bytes: u64, count: u64) {
        let c = &mut self.changes[loc as usize];
        if c.gen != self.gen {
            c.at_bytes = c.bytes;
            c.at_count = c.count;
            c.gen = self.gen;
        }
        if !c.changed {
            c.changed = true;
            self.changed.push(loc);
        }
        c.bytes = c.bytes.wrapping_add(bytes);
        c.count = c.count.wrapping_add(count);
    }

    /// Ends the current stretch: its changes and its candidate peak become steps.
    fn close_stretch(&mut self) {
        let steps = &mut self.out.steps;
        let gen = self.gen;
        if self.stretch_alloc {
            for &loc in &self.changed {
                let c = &mut self.changes[loc as usize];
                if c.gen != gen {
                    c.at_bytes = c.bytes;
                    c.at_count = c.count;
                }
                if c.at_bytes != 0 || c.at_count != 0 {
                    steps.push(Step::Delta {
                        loc,
                        bytes: c.at_bytes,
                        count: c.at_count,
                    });
                }
                c.bytes = c.bytes.wrapping_sub(c.at_bytes);
                c.count = c.count.wrapping_sub(c.at_count);
            }
            steps.push(Step::Candidate { event: self.argmax });
            self.stretch_alloc = false;
        }
        for loc in self.changed.drain(..) {
            let c = &mut self.changes[loc as usize];
            if c.bytes != 0 || c.count != 0 {
                steps.push(Step::Delta {
                    loc,
                    bytes: c.bytes,
                    count: c.count,
                });
            }
            *c = LocChange::default();
        }
        // Every location's at-peak value is stale in the next stretch.
        self.gen = self.gen.wrapping_add(1).max(1);
    }

    /// How many allocations the block of `size` recorded bytes at `address` stands for (1
    /// unless sampled).
    #[inline(always)]
    fn count_of(&self, size: u64, address: u64) -> u64 {
        memray_format::sampling::count_weight(size, self.sample_every, address)
    }

    #[inline(always)]
    fn release(&mut self, address: u64, size: u64, loc: u32, born: u32) {
        self.heap = self.heap.wrapping_sub(size);
        let count = self.count_of(size, address);
        self.change(loc, size.wrapping_neg(), count.wrapping_neg());
        if !self.observers.is_empty() {
            let r = Release {
                loc,
                bytes: size,
                count,
                allocated_in: born,
                freed_in: self.interval,
            };
            self.untold_releases.push((self.n_untold as u32, r));
        }
    }

    // Not inlined into the decoder's callback: the event's fields are read one by one where
    // the decoder wrote them, and the callback stays small enough to be inlined.
    #[inline(never)]
    fn event(&mut self, e: &Event) {
        let pos = self.n_events;
        self.n_events += 1;
        let loc = if e.allocator.is_deallocator() {
            None
        } else {
            Some(self.loc(e))
        };
        self.settle(e, pos, loc);
        if !self.observers.is_empty() {
            let n = self.n_untold % BATCH;
            self.untold[n] = *e;
            self.untold_locs[n] = loc.unwrap_or(NO_LOCATION);
            self.n_untold = n + 1;
            if self.n_untold == BATCH {
                self.flush();
            }
        }
    }

    /// What event `e` (the chunk's `pos`-th, at location `loc` if an allocation) does to the
    /// chunk's live set and figures.
    #[inline(always)]
    fn settle(&mut self, e: &Event, pos: u32, loc: Option<u32>) {
        match e.allocator {
            AllocatorType::Free | AllocatorType::PymallocFree => {
                self.out.n_deallocations = self.out.n_deallocations.saturating_add(1);
                match self.blocks.get_mut(&e.address) {
                    Some(b) if b.1 != DEAD => {
                        let (size, loc, born) = *b;
                        b.1 = DEAD;
                        self.release(e.address, size, loc, born);
                    }
                    Some(_) => {}
                    None => {
                        self.blocks.insert(e.address, (0, DEAD, 0));
                        self.close_stretch();
                        self.out.steps.push(Step::Free { address: e.address });
                    }
                }
            }
            AllocatorType::Mmap | AllocatorType::Munmap => {
                if e.allocator == AllocatorType::Mmap {
                    self.out.alloc_sum += u128::from(e.size);
                }
                self.close_stretch();
                self.out.steps.push(Step::Ranged { event: pos, e: *e });
            }
            _ => {
                let loc = loc.unwrap_or_default();
                let count = self.count_of(e.size, e.address);
                self.out.n_allocations = self.out.n_allocations.saturating_add(count);
                self.out.bytes_allocated = self.out.bytes_allocated.saturating_add(e.size);
                self.out.alloc_sum += u128::from(e.size);
                let t = &mut self.out.totals[loc as usize];
                t.0 = t.0.saturating_add(e.size);
                t.1 = t.1.saturating_add(count);
                let block = (e.size, loc, self.interval);
                // Addresses come back again and again: update in place when seen before.
                match self.blocks.get_mut(&e.address) {
                    Some(b) => {
                        // Field by field: one wide store over the entry would have to wait for
                        // the narrower stores that just built `block`.
                        let (size, old, born) = *b;
                        b.0 = block.0;
                        b.1 = block.1;
                        b.2 = block.2;
                        if old != DEAD {
                            self.release(e.address, size, old, born);
                        }
                    }
                    None => {
                        self.blocks.insert(e.address, block);
                        self.out.fresh.push(e.address);
                    }
                }
                self.heap = self.heap.wrapping_add(e.size);
                self.change(loc, e.size, count);
                if !self.stretch_alloc || self.heap >= self.stretch_max {
                    self.stretch_alloc = true;
                    self.stretch_max = self.heap;
                    self.argmax = pos;
                    self.gen = self.gen.wrapping_add(1).max(1);
                }
            }
        }
    }

    fn flush(&mut self) {
        let batch = ChunkBatch {
            events: &self.untold[..self.n_untold],
            locs: &self.untold_locs[..self.n_untold],
            releases: &self.untold_releases,
        };
        for (_, o) in &mut self.observers {
            o.take(&batch);
        }
        self.n_untold = 0;
        self.untold_releases.clear();
    }

    fn sample(&mut self, m: MemorySample) {
        self.close_stretch();
        self.out.steps.push(Step::Sample(m));
        self.interval = self.interval.saturating_add(1);
    }

    fn finish(mut self) -> Summary {
        self.close_stretch();
        self.flush();
        self.out.n_events = self.n_events;
        self.out.survivors = self
            .blocks
            .iter()
            .filter(|(_, b)| b.1 != DEAD)
            .map(|(&addr, &(size, loc, born))| (addr, size, loc, born))
            .collect();
        self.out.parts = self
            .observers
            .into_iter()
            .map(|(i, o)| (i, o.done()))
            .collect();
        self.out
    }
}

/// A placeholder for the chunk observers' batch.
const NO_EVENT: Event = Event {
    allocator: AllocatorType::Free,
    thread: 0,
    address: 0,
    size: 0,
    stack: 0,
    native_stack: 0,
};

/// A key no event has (its allocator is a deallocator), for the empty cache slots.
const NO_KEY: LocKey = LocKey {
    thread: 0,
    allocator: AllocatorType::Free,
    stack: 0,
    native_stack: 0,
};

/// Decodes a chunk's payload and replays its events on their own.
pub(super) fn run(
    h: &ChunkHeader,
    payload: &[u8],
    offset: u64,
    setup: PassSetup<'_>,
) -> Result<Summary> {
    let PassSetup {
        observers,
        sample_every,
    } = setup;
    let mut pass = Pass {
        out: Summary {
            chunk: Chunk {
                code_base: h.code_base,
                node_base: h.node_base,
                native_base: h.native_base,
                ..Default::default()
            },
            ..Default::default()
        },
        keys: FxHashMap::default(),
        cache: [(NO_KEY, 0); LOC_CACHE],
        blocks: FxHashMap::default(),
        heap: 0,
        interval: 0,
        n_events: 0,
        stretch_alloc: false,
        stretch_max: 0,
        argmax: 0,
        gen: 1,
        changes: Vec::new(),
        changed: Vec::new(),
        observers: observers.iter().map(|(i, new)| (*i, new())).collect(),
        untold: Box::new([NO_EVENT; BATCH]),
        untold_locs: Box::new([NO_LOCATION; BATCH]),
        n_untold: 0,
        untold_releases: Vec::new(),
        sample_every,
    };
    let mut defs: Vec<Record> = Vec::new();
    decode_records(h, payload, offset, |r| {
        // The event is read where the decoder wrote it, field by field (a copy of the whole
        // record would wait on the decoder's stores).
        if let Record::Event(e) = &r {
            return pass.event(e);
        }
        match r {
            Record::Memory(m) => pass.sample(m),
            Record::Thread(_) | Record::Event(_) => {}
            other => defs.push(other),
        }
    })?;
    let mut out = pass.finish();
    let c = &mut out.chunk;
    for r in defs {
        match r {
            Record::ThreadName(t) => c.thread_names.push(t),
            Record::Code(_, code) => c.codes.push(code),
            Record::Node(_, n) => c.nodes.push(n),
            Record::NativeNode(_, n) => c.native_nodes.push(n),
            Record::Image(i) => c.images.push(Some(i)),
            Record::ImagesReset => c.images.push(None),
            Record::HeapSample(s) => c.heap_samples.push(s),
            Record::Aggregate(a) => c.aggregates.push(a),
            Record::AggregateTotals(t) => c.aggregate_totals = Some(t),
            Record::Thread(_) | Record::Event(_) | Record::Memory(_) => {}
        }
    }
    Ok(out)
}
