//! The one replay of allocation events, in order: keeps the live set (blocks by address, `mmap`
//! ranges with partial unmaps), the heap size, and per-location totals, and captures the
//! allocations live at the high-water mark lazily (a location's at-peak value is only copied
//! when the location changes after a new peak), so finding the peak costs one pass and no
//! snapshots. Every other analysis is an [`Observer`] of it ([`crate::observers`]).
//!
//! It takes events one by one ([`Replay::feed`], [`Replay::push_event`]) or a chunk replayed on
//! its own by the parallel replay ([`Replay::apply`]).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::chunk_pass::{Step, Summary};
use super::definitions::Definitions;
use super::observer::{Allocation, ChunkContext, End, NewChunkObserver, Observer, Release, Sample};
use super::observers::lifetimes::Lifetime;
use super::observers::temporal_peaks::Runs;
use super::observers::temporary::TemporaryAt;
use memray_format::chunk::Chunk;
use memray_format::error::Result;
use memray_format::records::{AllocatorType, Event, Header, Trailer};

/// What allocations are grouped by: one allocation site on one thread through one allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocKey {
    pub thread: u32,
    pub allocator: AllocatorType,
    pub stack: u32,
    pub native_stack: u32,
}

impl LocKey {
    /// The location of an allocation event.
    #[inline]
    pub fn of(e: &Event) -> LocKey {
        LocKey {
            thread: e.thread,
            allocator: e.allocator,
            stack: e.stack,
            native_stack: e.native_stack,
        }
    }
}

/// Per-location figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocStats {
    /// Everything ever allocated here.
    pub total_bytes: u64,
    pub total_count: u64,
    /// Still live at the end of the capture (leaked).
    pub live_bytes: u64,
    pub live_count: u64,
    /// Live at the high-water mark.
    pub peak_bytes: u64,
    pub peak_count: u64,
    /// Address of the first allocation made here (Memray shows it on aggregated records).
    pub first_address: u64,
    gen: u32,
}

/// Memory use at the moment of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub time_ms: u64,
    pub rss: u64,
    pub heap: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    /// Count allocations by exact size (for histograms).
    pub size_counts: bool,
    /// Find temporary allocations with this threshold (see [`crate::observers::temporary`]).
    pub temporary_threshold: Option<usize>,
    /// Keep each location's value at every interval's peak (see
    /// [`crate::observers::temporal_peaks`]).
    pub temporal_peaks: bool,
    /// Group allocations by the intervals they were made and freed in.
    pub lifetimes: bool,
}

pub struct Replay {
    keys: FxHashMap<LocKey, u32>,
    locs: Vec<(LocKey, LocStats)>,
    /// Live blocks: address -> (size, location index, interval allocated in).
    blocks: FxHashMap<u64, (u64, u32, u32)>,
    /// mmap'ed ranges: start -> (length, location index, interval allocated in).
    ranges: BTreeMap<u64, (u64, u32, u32)>,
    /// Memory samples seen so far: the current interval.
    interval: u32,
    heap: u64,
    peak: u64,
    peak_gen: u32,
    peak_event: u64,
    n_events: u64,
    n_allocations: u64,
    n_deallocations: u64,
    bytes_allocated: u64,
    /// The exact sum of every size allocated by the chunks applied so far (and of the leaked
    /// bytes and counts an aggregated capture's records start locations with); past 2^64 the
    /// saturating sums depend on the order, so [`Replay::apply`] replays every later chunk
    /// event by event.
    alloc_sum: u128,
    snapshots: Vec<Snapshot>,
    threads: Vec<u32>,
    observers: Vec<Box<dyn Observer>>,
    /// A sampled capture's rate (0: every allocation counts as one).
    sample_every: u64,
}

/// The results every report starts from.
pub struct Analysis {
    pub header: Header,
    /// None when the capture was cut short.
    pub trailer: Option<Trailer>,
    pub defs: Definitions,
    pub locations: Vec<(LocKey, LocStats)>,
    pub peak_memory: u64,
    /// Index of the allocation event that reached the peak (0 when nothing was allocated).
    pub peak_event: u64,
    pub n_events: u64,
    pub n_allocations: u64,
    pub n_deallocations: u64,
    pub bytes_allocated: u64,
    pub leaked_bytes: u64,
    /// Number of allocations of each exact size (empty unless asked for).
    pub size_counts: FxHashMap<u64, u64>,
    pub snapshots: Vec<Snapshot>,
    /// Thread ids in order of first appearance.
    pub threads: Vec<u32>,
    /// Temporary allocations by location (empty unless asked for).
    pub temporary: Vec<TemporaryAt>,
    /// Heap peak inside each interval between memory samples (empty unless asked for).
    pub interval_peaks: Vec<u64>,
    /// Per location (index into `locations`): live bytes at interval peaks, as runs.
    pub interval_runs: Vec<Runs>,
    /// Allocations by location and the intervals they were made and freed in.
    pub lifetimes: Vec<Lifetime>,
    /// The processes of a merged capture set (`crate::process_set`); empty for one capture.
    pub processes: Vec<crate::process_set::Process>,
}

impl Analysis {
    /// When the capture ended: the trailer's time, else (a capture cut short) its last memory
    /// sample's, else its start.
    pub fn end_time_ms(&self) -> u64 {
        self.trailer
            .map(|t| t.end_time_ms)
            .or_else(|| self.snapshots.last().map(|s| s.time_ms))
            .unwrap_or(self.header.start_time_ms)
    }
}

impl Replay {
    /// A replay with the observers `opts` asks for.
    /// The capture is sampled at `rate` (its header's `sample_every`): each allocation counts
    /// as the number of allocations it stands for (`memray_format::sampling::count_weight`).
    pub fn set_sample_every(&mut self, rate: u64) {
        self.sample_every = rate;
    }

    /// How many allocations the block of `size` recorded bytes at `address` stands for (1
    /// unless sampled).
    #[inline(always)]
    fn count_of(&self, size: u64, address: u64) -> u64 {
        memray_format::sampling::count_weight(size, self.sample_every, address)
    }

    pub fn new(opts: ReplayOptions) -> Self {
        Replay::with_observers(crate::observers::for_options(&opts))
    }

    /// A replay watched by `observers`.
    pub fn with_observers(observers: Vec<Box<dyn Observer>>) -> Self {
        Replay {
            keys: FxHashMap::default(),
            locs: Vec::new(),
            blocks: FxHashMap::default(),
            ranges: BTreeMap::new(),
            heap: 0,
            peak: 0,
            peak_gen: 0,
            peak_event: 0,
            n_events: 0,
            n_allocations: 0,
            n_deallocations: 0,
            bytes_allocated: 0,
            alloc_sum: 0,
            snapshots: Vec::new(),
            threads: Vec::new(),
            interval: 0,
            observers,
            sample_every: 0,
        }
    }

    /// What makes each observer's share of a chunk replayed on its own, with the observer's
    /// index (for [`Replay::apply`]).
    pub(crate) fn chunk_observers(&self) -> Vec<(usize, NewChunkObserver)> {
        self.observers
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some((i, o.chunk_observers()?)))
            .collect()
    }

    /// Records one event (for a tracker that aggregates in the tracked process).
    #[inline]
    pub fn push_event(&mut self, e: &Event) {
        self.event(e, true);
    }

    /// Records a memory sample taken now (for a tracker that aggregates in process).
    pub fn push_sample(&mut self, time_ms: u64, rss: u64) {
        self.sample(time_ms, rss);
    }

    /// Takes an aggregated capture's figures as they were summed up by the tracker.
    fn absorb_aggregates(&mut self, chunk: &Chunk) {
        for s in &chunk.heap_samples {
            self.snapshots.push(Snapshot {
                time_ms: s.time_ms,
                rss: s.rss,
                heap: s.heap,
            });
        }
        for a in &chunk.aggregates {
            let e = Event {
                allocator: a.allocator,
                thread: a.thread,
                address: 0,
                size: 0,
                stack: a.stack,
                native_stack: a.native_stack,
            };
            let idx = self.loc_index(&e);
            let gen = self.peak_gen;
            let s = &mut self.locs[idx as usize].1;
            s.peak_bytes = s.peak_bytes.saturating_add(a.peak_bytes);
            s.peak_count = s.peak_count.saturating_add(a.peak_count);
            s.live_bytes = s.live_bytes.saturating_add(a.leaked_bytes);
            s.live_count = s.live_count.saturating_add(a.leaked_count);
            s.total_bytes = s.total_bytes.saturating_add(a.total_bytes);
            s.total_count = s.total_count.saturating_add(a.total_count);
            s.gen = gen;
            self.heap = self.heap.saturating_add(a.leaked_bytes);
            // The live figures these start from count towards the sums past which a chunk's
            // wrapping net changes are no longer exact (see `apply`).
            self.alloc_sum = self
                .alloc_sum
                .saturating_add(u128::from(a.leaked_bytes))
                .saturating_add(u128::from(a.leaked_count));
        }
        if let Some(t) = chunk.aggregate_totals {
            self.peak = t.peak_memory;
            self.n_allocations = t.n_allocations;
            self.n_deallocations = t.n_deallocations;
            self.n_events = t.n_allocations.saturating_add(t.n_deallocations);
            self.bytes_allocated = t.bytes_allocated;
        }
    }

    pub fn feed(&mut self, chunk: &Chunk) {
        self.feed_aggregates(chunk);
        self.feed_events(chunk);
    }

    /// Takes an aggregated capture's figures, if the chunk holds any.
    fn feed_aggregates(&mut self, chunk: &Chunk) {
        if !chunk.aggregates.is_empty()
            || !chunk.heap_samples.is_empty()
            || chunk.aggregate_totals.is_some()
        {
            self.absorb_aggregates(chunk);
        }
    }

    /// Replays the chunk's events and memory samples, one by one.
    fn feed_events(&mut self, chunk: &Chunk) {
        let mut samples = chunk.samples.iter().peekable();
        for (i, e) in chunk.events.iter().enumerate() {
            while let Some((_, s)) = samples.next_if(|(pos, _)| *pos as usize <= i) {
                self.sample(s.time_ms, s.rss);
            }
            self.event(e, true);
        }
        for (_, s) in samples {
            self.sample(s.time_ms, s.rss);
        }
    }

    fn sample(&mut self, time_ms: u64, rss: u64) {
        self.snapshots.push(Snapshot {
            time_ms,
            rss,
            heap: self.heap,
        });
        let sample = Sample {
            heap: self.heap,
            locations: &self.locs,
        };
        for o in &mut self.observers {
            o.sample(&sample);
        }
        self.interval = self.interval.saturating_add(1);
    }

    /// Brings a location's at-peak figures up to date before it changes.
    #[inline]
    fn touch(&mut self, idx: u32) -> &mut LocStats {
        let peak_gen = self.peak_gen;
        if !self.observers.is_empty() {
            let s = &self.locs[idx as usize].1;
            for o in &mut self.observers {
                o.change(idx, (s.live_bytes, s.live_count));
            }
        }
        let s = &mut self.locs[idx as usize].1;
        if s.gen != peak_gen {
            s.peak_bytes = s.live_bytes;
            s.peak_count = s.live_count;
            s.gen = peak_gen;
        }
        s
    }

    fn loc_index(&mut self, e: &Event) -> u32 {
        let key = LocKey::of(e);
        self.loc_index_key(key, e.address)
    }

    /// The index of location `key`, created (with `address` as its first) when new.
    fn loc_index_key(&mut self, key: LocKey, address: u64) -> u32 {
        if let Some(&i) = self.keys.get(&key) {
            return i;
        }
        let i = self.locs.len() as u32;
        self.locs.push((
            key,
            LocStats {
                gen: self.peak_gen,
                first_address: address,
                ..Default::default()
            },
        ));
        self.keys.insert(key, i);
        for o in &mut self.observers {
            o.location(i);
        }
        if !self.threads.contains(&key.thread) {
            self.threads.push(key.thread);
        }
        i
    }

    fn release(&mut self, idx: u32, bytes: u64, count: u64, allocated_in: u32) {
        let r = Release {
            loc: idx,
            bytes,
            count,
            allocated_in,
            freed_in: self.interval,
        };
        for o in &mut self.observers {
            o.release(&r);
        }
        let s = self.touch(idx);
        s.live_bytes = s.live_bytes.saturating_sub(bytes);
        s.live_count = s.live_count.saturating_sub(count);
        self.heap = self.heap.saturating_sub(bytes);
    }

    /// Replays one event; `tell` says whether the observers are told of the event itself (not
    /// when a chunk observer already was).
    #[inline]
    fn event(&mut self, e: &Event, tell: bool) {
        let index = self.n_events;
        self.n_events = index.saturating_add(1);
        match e.allocator {
            AllocatorType::Free | AllocatorType::PymallocFree | AllocatorType::Munmap => {
                self.n_deallocations = self.n_deallocations.saturating_add(1);
                if tell {
                    for o in &mut self.observers {
                        o.free(e);
                    }
                }
                if e.allocator == AllocatorType::Munmap {
                    self.unmap(e.address, e.size);
                } else {
                    self.free_block(e.address);
                }
            }
            _ => {
                let count = self.count_of(e.size, e.address);
                self.n_allocations = self.n_allocations.saturating_add(count);
                self.bytes_allocated = self.bytes_allocated.saturating_add(e.size);
                let idx = self.loc_index(e);
                if tell {
                    let a = Allocation {
                        event: e,
                        loc: idx,
                        interval: self.interval,
                    };
                    for o in &mut self.observers {
                        o.allocation(&a);
                    }
                }
                if e.allocator == AllocatorType::Mmap {
                    // A new mapping replaces whatever it overlaps (MAP_FIXED).
                    self.unmap(e.address, e.size);
                    self.ranges.insert(e.address, (e.size, idx, self.interval));
                } else if let Some((size, old, born)) =
                    self.blocks.insert(e.address, (e.size, idx, self.interval))
                {
                    // A block reused without a free we saw: the old one is gone.
                    let n = self.count_of(size, e.address);
                    self.release(old, size, n, born);
                }
                let s = self.touch(idx);
                s.total_bytes = s.total_bytes.saturating_add(e.size);
                s.total_count = s.total_count.saturating_add(count);
                s.live_bytes = s.live_bytes.saturating_add(e.size);
                s.live_count = s.live_count.saturating_add(count);
                self.heap = self.heap.saturating_add(e.size);
                self.after_allocation(index);
            }
        }
    }

    /// Releases the block live at `address`, if any (a free).
    #[inline]
    fn free_block(&mut self, address: u64) {
        if let Some((size, idx, born)) = self.blocks.remove(&address) {
            let n = self.count_of(size, address);
            self.release(idx, size, n, born);
        }
    }

    /// Checks the heap just after allocation event `event` (its index) against the peaks.
    #[inline]
    fn after_allocation(&mut self, event: u64) {
        // Memray's rule: a later state equal to the peak becomes the peak.
        if self.heap >= self.peak {
            self.peak = self.heap;
            // A generation is only compared for equality: wrapping keeps it changing.
            self.peak_gen = self.peak_gen.wrapping_add(1);
            self.peak_event = event;
        }
        for o in &mut self.observers {
            o.heap_after_allocation(self.heap);
        }
    }

    /// Changes location `idx`'s live figures (and the heap) by a net amount given modulo 2^64,
    /// as a run of its allocations and frees with no peak among them would. Exact while no
    /// sum saturates.
    fn apply_delta(&mut self, idx: u32, bytes: u64, count: u64) {
        let s = self.touch(idx);
        s.live_bytes = s.live_bytes.wrapping_add(bytes);
        s.live_count = s.live_count.wrapping_add(count);
        self.heap = self.heap.wrapping_add(bytes);
    }

    /// Every location seen so far with its figures up to now (`live_bytes`/`live_count`: what is
    /// live at this moment), for readers that watch a capture as it arrives (live mode).
    pub fn locations(&self) -> &[(LocKey, LocStats)] {
        &self.locs
    }

    /// Bytes live at this moment.
    pub fn heap(&self) -> u64 {
        self.heap
    }

    /// The highest heap seen so far.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// Thread ids in order of first appearance.
    pub fn threads(&self) -> &[u32] {
        &self.threads
    }

    /// Allocation events seen so far (frees not counted).
    pub fn n_allocations(&self) -> u64 {
        self.n_allocations
    }

    /// Hands over the memory samples gathered so far (so a reader that runs for hours can
    /// keep a compact history of its own instead of every sample).
    pub fn drain_snapshots(&mut self) -> std::vec::Drain<'_, Snapshot> {
        self.snapshots.drain(..)
    }

    /// Removes `[addr, addr+len)` from the mapped ranges, splitting ranges it cuts through.
    fn unmap(&mut self, addr: u64, len: u64) {
        if len == 0 {
            return;
        }
        let end = addr.saturating_add(len);
        let mut hit: Vec<(u64, u64, u32, u32)> = Vec::new();
        if let Some((&s, &(l, i, born))) = self.ranges.range(..addr).next_back() {
            if s.saturating_add(l) > addr {
                hit.push((s, l, i, born));
            }
        }
        for (&s, &(l, i, born)) in self.ranges.range(addr..end) {
            hit.push((s, l, i, born));
        }
        for (s, l, idx, born) in hit {
            self.ranges.remove(&s);
            let r_end = s.saturating_add(l);
            let cut_start = s.max(addr);
            let cut_end = r_end.min(end);
            let removed = cut_end - cut_start;
            let mut pieces = 0u64;
            if s < cut_start {
                self.ranges.insert(s, (cut_start - s, idx, born));
                pieces += 1;
            }
            if cut_end < r_end {
                self.ranges.insert(cut_end, (r_end - cut_end, idx, born));
                pieces += 1;
            }
            let r = Release {
                loc: idx,
                bytes: removed,
                count: u64::from(pieces == 0),
                allocated_in: born,
                freed_in: self.interval,
            };
            for o in &mut self.observers {
                o.release(&r);
            }
            // The mapping counts as one allocation while any piece of it remains; a split
            // leaves one allocation per piece.
            let s_stats = self.touch(idx);
            s_stats.live_count = s_stats.live_count.saturating_add(pieces).saturating_sub(1);
            s_stats.live_bytes = s_stats.live_bytes.saturating_sub(removed);
            self.heap = self.heap.saturating_sub(removed);
        }
    }

    /// Applies one chunk replayed on its own ([`crate::parallel`]), in file order: the same
    /// result as replaying its events one by one. `decode` gives the chunk's events for when
    /// its summary cannot give that result (an allocation over a block live from an earlier
    /// chunk, or sizes adding up past 2^64): then they are replayed one by one.
    pub(crate) fn apply(
        &mut self,
        s: Summary,
        decode: &mut dyn FnMut() -> Result<Chunk>,
    ) -> Result<()> {
        self.feed_aggregates(&s.chunk);
        self.alloc_sum = self.alloc_sum.saturating_add(s.alloc_sum);
        if self.alloc_sum > u128::from(u64::MAX)
            || s.fresh.iter().any(|a| self.blocks.contains_key(a))
        {
            self.feed_events(&decode()?);
            return Ok(());
        }
        let base = self.n_events;
        let interval_base = self.interval;
        let index: Vec<u32> = s
            .locs
            .iter()
            .map(|&(key, address)| self.loc_index_key(key, address))
            .collect();
        for (i, &(bytes, count)) in s.totals.iter().enumerate() {
            let st = &mut self.locs[index[i] as usize].1;
            st.total_bytes = st.total_bytes.saturating_add(bytes);
            st.total_count = st.total_count.saturating_add(count);
        }
        self.n_allocations = self.n_allocations.saturating_add(s.n_allocations);
        self.n_deallocations = self.n_deallocations.saturating_add(s.n_deallocations);
        self.bytes_allocated = self.bytes_allocated.saturating_add(s.bytes_allocated);
        for step in s.steps {
            match step {
                Step::Delta { loc, bytes, count } => {
                    self.apply_delta(index[loc as usize], bytes, count)
                }
                Step::Candidate { event } => {
                    self.after_allocation(base.saturating_add(u64::from(event)))
                }
                Step::Sample(m) => self.sample(m.time_ms, m.rss),
                Step::Free { address } => self.free_block(address),
                Step::Ranged { event, e } => {
                    // The chunk observers saw the event; the replay settles what it does.
                    self.n_events = base.saturating_add(u64::from(event));
                    self.event(&e, false);
                }
            }
        }
        self.n_events = base.saturating_add(u64::from(s.n_events));
        for (address, size, loc, born) in s.survivors {
            self.blocks.insert(
                address,
                (
                    size,
                    index[loc as usize],
                    interval_base.saturating_add(born),
                ),
            );
        }
        let chunk = ChunkContext {
            index: &index,
            locations: &self.locs,
            interval_base,
        };
        for (i, part) in s.parts {
            if let Some(o) = self.observers.get_mut(i) {
                o.merge(part, &chunk);
            }
        }
        Ok(())
    }

    pub fn finish(
        mut self,
        defs: Definitions,
        header: Header,
        trailer: Option<Trailer>,
    ) -> Analysis {
        let mut out = Analysis {
            header,
            trailer,
            defs,
            locations: Vec::new(),
            peak_memory: self.peak,
            peak_event: self.peak_event,
            n_events: self.n_events,
            n_allocations: self.n_allocations,
            n_deallocations: self.n_deallocations,
            bytes_allocated: self.bytes_allocated,
            leaked_bytes: self.heap,
            size_counts: FxHashMap::default(),
            snapshots: Vec::new(),
            threads: Vec::new(),
            temporary: Vec::new(),
            interval_peaks: Vec::new(),
            interval_runs: Vec::new(),
            lifetimes: Vec::new(),
            processes: Vec::new(),
        };
        let end = End {
            blocks: &self.blocks,
            ranges: &self.ranges,
            locations: &self.locs,
            heap: self.heap,
        };
        for o in std::mem::take(&mut self.observers) {
            o.finish(&end, &mut out);
        }
        for i in 0..self.locs.len() as u32 {
            self.touch(i);
        }
        out.locations = self.locs;
        out.snapshots = self.snapshots;
        out.threads = self.threads;
        out
    }
}
