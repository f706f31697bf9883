//! The per-chunk half of the parallel replay: one chunk's events replayed on their own, as if
//! nothing were live when it starts, into a [`Summary`] that [`super::parallel`] applies to the
//! whole-capture [`Replay`](super::replay::Replay) in file order.
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

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::replay::LocKey;
use super::temporary::find_allocation;
use memray_format::chunk::{decode_records, Chunk, ChunkHeader, Record};
use memray_format::error::Result;
use memray_format::records::{AllocatorType, Event, MemorySample};

/// What the pass gathers besides the live set and the peaks.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PassOptions {
    pub size_counts: bool,
    /// Temporary allocations: how many of a thread's latest allocations a free is matched to.
    pub window: Option<usize>,
    pub lifetimes: bool,
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

/// A temporary allocation the chunk found, or a free it could not match on its own.
#[derive(Debug, Clone, Copy)]
pub(super) enum TempFind {
    /// Allocations at local location `loc` freed soon after: the first one's address, the
    /// bytes and count of all of them (in the chunk).
    Found {
        loc: u32,
        address: u64,
        bytes: u64,
        count: u64,
    },
    /// A free that may match one of the thread's allocations from earlier chunks; `seen` of
    /// the thread's allocations came earlier in this chunk.
    Open {
        thread: u32,
        address: u64,
        size: u64,
        ranged: bool,
        seen: usize,
    },
}

/// (location, interval allocated in, interval freed in).
pub(super) type LifetimeKey = (u32, u32, u32);

/// One of a thread's latest allocations: address, size, location.
pub(super) type Recent = (u64, u64, u32);

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
    /// Allocation and deallocation events, bytes allocated and sizes (mmap/munmap excluded).
    pub n_allocations: u64,
    pub n_deallocations: u64,
    pub bytes_allocated: u64,
    pub sizes: FxHashMap<u64, u64>,
    /// The exact sum of every allocation's size, mmap included.
    pub alloc_sum: u128,
    pub steps: Vec<Step>,
    /// Addresses whose first event in the chunk is an allocation.
    pub fresh: Vec<u64>,
    /// Blocks still live at the end: address, size, location, interval allocated in.
    pub survivors: Vec<(u64, u64, u32, u32)>,
    /// (location, interval allocated in, interval freed in) -> (bytes, count), both
    /// intervals counted from the chunk's start.
    pub lifetimes: Vec<(LifetimeKey, (u64, u64))>,
    /// Temporary allocations, each with the index of the event that found it.
    pub temp: Vec<(u32, TempFind)>,
    /// Per thread, its latest allocations in the chunk (newest first, up to the window):
    /// address, size, location.
    pub temp_latest: Vec<(u32, Vec<Recent>)>,
    /// For a stream: the decompressed payload, in case the merge must replay it event by event.
    pub payload: Option<Vec<u8>>,
}

/// Location marker of an address freed in this chunk.
const DEAD: u32 = u32::MAX;
/// Sizes below this are counted in an array, the others in a map.
const SMALL_SIZES: usize = 4096;
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
    opts: PassOptions,
    out: Summary,
    keys: FxHashMap<LocKey, u32>,
    cache: [(LocKey, u32); LOC_CACHE],
    /// Address -> (size, location or DEAD, interval allocated in) of every address seen.
    blocks: FxHashMap<u64, (u64, u32, u32)>,
    small_sizes: Vec<u64>,
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
    lifetimes: FxHashMap<LifetimeKey, (u64, u64)>,
    recent: FxHashMap<u32, VecDeque<Recent>>,
    found: FxHashMap<u32, usize>,
}

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

    #[inline(always)]
    fn release(&mut self, size: u64, loc: u32, born: u32) {
        self.heap = self.heap.wrapping_sub(size);
        self.change(loc, size.wrapping_neg(), u64::MAX);
        if self.opts.lifetimes {
            let e = self
                .lifetimes
                .entry((loc, born, self.interval))
                .or_default();
            e.0 += size;
            e.1 += 1;
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
        if self.opts.window.is_some() {
            self.temporary(e, loc, pos);
        }
        match e.allocator {
            AllocatorType::Free | AllocatorType::PymallocFree => {
                self.out.n_deallocations += 1;
                match self.blocks.get_mut(&e.address) {
                    Some(b) if b.1 != DEAD => {
                        let (size, loc, born) = *b;
                        b.1 = DEAD;
                        self.release(size, loc, born);
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
                self.out.n_allocations += 1;
                self.out.bytes_allocated = self.out.bytes_allocated.saturating_add(e.size);
                self.out.alloc_sum += u128::from(e.size);
                if self.opts.size_counts {
                    match self.small_sizes.get_mut(e.size as usize) {
                        Some(n) => *n += 1,
                        None => *self.out.sizes.entry(e.size).or_default() += 1,
                    }
                }
                let t = &mut self.out.totals[loc as usize];
                t.0 = t.0.saturating_add(e.size);
                t.1 += 1;
                let block = (e.size, loc, self.interval);
                // Addresses come back again and again: update in place when seen before.
                match self.blocks.get_mut(&e.address) {
                    Some(b) => {
                        let (size, old, born) = std::mem::replace(b, block);
                        if old != DEAD {
                            self.release(size, old, born);
                        }
                    }
                    None => {
                        self.blocks.insert(e.address, block);
                        self.out.fresh.push(e.address);
                    }
                }
                self.heap = self.heap.wrapping_add(e.size);
                self.change(loc, e.size, 1);
                if !self.stretch_alloc || self.heap >= self.stretch_max {
                    self.stretch_alloc = true;
                    self.stretch_max = self.heap;
                    self.argmax = pos;
                    self.gen = self.gen.wrapping_add(1).max(1);
                }
            }
        }
    }

    /// Memray's temporary allocations, within the chunk (see [`super::temporary`]).
    fn temporary(&mut self, e: &Event, loc: Option<u32>, pos: u32) {
        let window = self.opts.window.unwrap_or_default();
        let recent = self.recent.entry(e.thread).or_default();
        if let Some(loc) = loc {
            recent.push_front((e.address, e.size, loc));
            recent.truncate(window);
            return;
        }
        match find_allocation(recent.iter(), e) {
            Some((address, size, loc)) => {
                let temp = &mut self.out.temp;
                let i = *self.found.entry(loc).or_insert_with(|| {
                    temp.push((
                        pos,
                        TempFind::Found {
                            loc,
                            address,
                            bytes: 0,
                            count: 0,
                        },
                    ));
                    temp.len() - 1
                });
                if let TempFind::Found { bytes, count, .. } = &mut temp[i].1 {
                    *bytes = bytes.saturating_add(size);
                    *count += 1;
                }
            }
            None if recent.len() < window => self.out.temp.push((
                pos,
                TempFind::Open {
                    thread: e.thread,
                    address: e.address,
                    size: e.size,
                    ranged: e.allocator == AllocatorType::Munmap,
                    seen: recent.len(),
                },
            )),
            None => {}
        }
    }

    fn sample(&mut self, m: MemorySample) {
        self.close_stretch();
        self.out.steps.push(Step::Sample(m));
        self.interval += 1;
    }

    fn finish(mut self) -> Summary {
        self.close_stretch();
        for (size, &n) in self.small_sizes.iter().enumerate() {
            if n > 0 {
                self.out.sizes.insert(size as u64, n);
            }
        }
        self.out.n_events = self.n_events;
        self.out.survivors = self
            .blocks
            .iter()
            .filter(|(_, b)| b.1 != DEAD)
            .map(|(&addr, &(size, loc, born))| (addr, size, loc, born))
            .collect();
        self.out.lifetimes = self.lifetimes.into_iter().collect();
        self.out.temp_latest = self
            .recent
            .into_iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(t, r)| (t, r.into_iter().collect()))
            .collect();
        self.out
    }
}

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
    opts: PassOptions,
) -> Result<Summary> {
    let mut pass = Pass {
        opts,
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
        small_sizes: if opts.size_counts {
            vec![0; SMALL_SIZES]
        } else {
            Vec::new()
        },
        heap: 0,
        interval: 0,
        n_events: 0,
        stretch_alloc: false,
        stretch_max: 0,
        argmax: 0,
        gen: 1,
        changes: Vec::new(),
        changed: Vec::new(),
        lifetimes: FxHashMap::default(),
        recent: FxHashMap::default(),
        found: FxHashMap::default(),
    };
    let mut defs: Vec<Record> = Vec::new();
    decode_records(h, payload, offset, |r| match r {
        Record::Event(e) => pass.event(&e),
        Record::Memory(m) => pass.sample(m),
        Record::Thread(_) => {}
        other => defs.push(other),
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
