//! Replays allocation events in order: keeps the live set (blocks by address, `mmap` ranges
//! with partial unmaps), the heap size, and per-location totals, and captures the allocations
//! live at the high-water mark lazily (a location's at-peak value is only copied when the
//! location changes after a new peak), so finding the peak costs one pass and no snapshots.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::definitions::Definitions;
use super::temporal::{Lifetime, Runs, TemporalPeaks};
use super::temporary::{TemporaryAt, TemporaryFinder};
use memray_format::chunk::Chunk;
use memray_format::records::{AllocatorType, Event, Header, Trailer};

/// (location, interval allocated in, interval freed in) -> (bytes, count).
type LifetimeMap = FxHashMap<(u32, u32, u32), (u64, u64)>;

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
    /// Find temporary allocations with this threshold (see [`super::temporary`]).
    pub temporary_threshold: Option<usize>,
    /// Keep each location's value at every interval's peak (see [`super::temporal`]).
    pub temporal_peaks: bool,
    /// Group allocations by the intervals they were made and freed in.
    pub lifetimes: bool,
}

pub struct Replay {
    pub(super) opts: ReplayOptions,
    pub(super) keys: FxHashMap<LocKey, u32>,
    pub(super) locs: Vec<(LocKey, LocStats)>,
    /// Live blocks: address -> (size, location index, interval allocated in).
    pub(super) blocks: FxHashMap<u64, (u64, u32, u32)>,
    /// mmap'ed ranges: start -> (length, location index, interval allocated in).
    pub(super) ranges: BTreeMap<u64, (u64, u32, u32)>,
    /// Memory samples seen so far: the current interval.
    pub(super) interval: u32,
    pub(super) temporal: Option<TemporalPeaks>,
    pub(super) lifetimes: Option<LifetimeMap>,
    pub(super) heap: u64,
    pub(super) peak: u64,
    pub(super) peak_gen: u32,
    pub(super) peak_event: u64,
    pub(super) n_events: u64,
    pub(super) n_allocations: u64,
    pub(super) n_deallocations: u64,
    pub(super) bytes_allocated: u64,
    pub(super) sizes: FxHashMap<u64, u64>,
    pub(super) snapshots: Vec<Snapshot>,
    pub(super) threads: Vec<u32>,
    pub(super) temporary: Option<TemporaryFinder>,
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
    pub fn new(opts: ReplayOptions) -> Self {
        Replay {
            opts,
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
            sizes: FxHashMap::default(),
            snapshots: Vec::new(),
            threads: Vec::new(),
            temporary: opts.temporary_threshold.map(TemporaryFinder::new),
            interval: 0,
            temporal: opts.temporal_peaks.then(TemporalPeaks::default),
            lifetimes: opts.lifetimes.then(FxHashMap::default),
        }
    }

    /// Records one event (for a tracker that aggregates in the tracked process).
    #[inline]
    pub fn push_event(&mut self, e: &Event) {
        self.event(e);
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
        }
        if let Some(t) = chunk.aggregate_totals {
            self.peak = t.peak_memory;
            self.n_allocations = t.n_allocations;
            self.n_deallocations = t.n_deallocations;
            self.n_events = t.n_allocations + t.n_deallocations;
            self.bytes_allocated = t.bytes_allocated;
        }
    }

    pub fn feed(&mut self, chunk: &Chunk) {
        self.feed_aggregates(chunk);
        self.feed_events(chunk);
    }

    /// Takes an aggregated capture's figures, if the chunk holds any.
    pub(super) fn feed_aggregates(&mut self, chunk: &Chunk) {
        if !chunk.aggregates.is_empty()
            || !chunk.heap_samples.is_empty()
            || chunk.aggregate_totals.is_some()
        {
            self.absorb_aggregates(chunk);
        }
    }

    /// Replays the chunk's events and memory samples, one by one.
    pub(super) fn feed_events(&mut self, chunk: &Chunk) {
        let mut samples = chunk.samples.iter().peekable();
        for (i, e) in chunk.events.iter().enumerate() {
            while let Some((_, s)) = samples.next_if(|(pos, _)| *pos as usize <= i) {
                self.sample(s.time_ms, s.rss);
            }
            self.event(e);
        }
        for (_, s) in samples {
            self.sample(s.time_ms, s.rss);
        }
    }

    pub(super) fn sample(&mut self, time_ms: u64, rss: u64) {
        self.snapshots.push(Snapshot {
            time_ms,
            rss,
            heap: self.heap,
        });
        self.end_interval();
    }

    /// Closes the interval that the sample just read ends.
    fn end_interval(&mut self) {
        if let Some(t) = &mut self.temporal {
            let locs = &self.locs;
            t.end_interval(self.heap, |i| {
                let s = &locs[i as usize].1;
                (s.live_bytes, s.live_count)
            });
        }
        self.interval += 1;
    }

    /// Brings a location's at-peak figures up to date before it changes.
    #[inline]
    pub(super) fn touch(&mut self, idx: u32) -> &mut LocStats {
        let peak_gen = self.peak_gen;
        if let Some(t) = &mut self.temporal {
            let s = &self.locs[idx as usize].1;
            t.before_change(idx, (s.live_bytes, s.live_count));
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
    pub(super) fn loc_index_key(&mut self, key: LocKey, address: u64) -> u32 {
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
        if let Some(t) = &mut self.temporal {
            t.new_location();
        }
        if !self.threads.contains(&key.thread) {
            self.threads.push(key.thread);
        }
        i
    }

    fn release(&mut self, idx: u32, bytes: u64, count: u64, allocated_in: u32) {
        if let Some(l) = &mut self.lifetimes {
            let e = l.entry((idx, allocated_in, self.interval)).or_default();
            e.0 += bytes;
            e.1 += count;
        }
        let s = self.touch(idx);
        s.live_bytes = s.live_bytes.saturating_sub(bytes);
        s.live_count -= count;
        self.heap = self.heap.saturating_sub(bytes);
    }

    #[inline]
    fn event(&mut self, e: &Event) {
        self.n_events += 1;
        if let Some(t) = &mut self.temporary {
            t.event(e);
        }
        match e.allocator {
            AllocatorType::Free | AllocatorType::PymallocFree => {
                self.n_deallocations += 1;
                self.free_block(e.address);
            }
            AllocatorType::Munmap => {
                self.n_deallocations += 1;
                self.unmap(e.address, e.size);
            }
            _ => {
                self.n_allocations += 1;
                self.bytes_allocated = self.bytes_allocated.saturating_add(e.size);
                if self.opts.size_counts {
                    *self.sizes.entry(e.size).or_default() += 1;
                }
                let idx = self.loc_index(e);
                if e.allocator == AllocatorType::Mmap {
                    // A new mapping replaces whatever it overlaps (MAP_FIXED).
                    self.unmap(e.address, e.size);
                    self.ranges.insert(e.address, (e.size, idx, self.interval));
                } else if let Some((size, old, born)) =
                    self.blocks.insert(e.address, (e.size, idx, self.interval))
                {
                    // A block reused without a free we saw: the old one is gone.
                    self.release(old, size, 1, born);
                }
                let s = self.touch(idx);
                s.total_bytes = s.total_bytes.saturating_add(e.size);
                s.total_count += 1;
                s.live_bytes = s.live_bytes.saturating_add(e.size);
                s.live_count += 1;
                self.heap = self.heap.saturating_add(e.size);
                self.after_allocation(self.n_events - 1);
            }
        }
    }

    /// Releases the block live at `address`, if any (a free).
    #[inline]
    pub(super) fn free_block(&mut self, address: u64) {
        if let Some((size, idx, born)) = self.blocks.remove(&address) {
            self.release(idx, size, 1, born);
        }
    }

    /// Checks the heap just after allocation event `event` (its index) against the peaks.
    #[inline]
    pub(super) fn after_allocation(&mut self, event: u64) {
        // Memray's rule: a later state equal to the peak becomes the peak.
        if self.heap >= self.peak {
            self.peak = self.heap;
            self.peak_gen += 1;
            self.peak_event = event;
        }
        if let Some(t) = &mut self.temporal {
            t.after_allocation(self.heap);
        }
    }

    /// Changes location `idx`'s live figures (and the heap) by a net amount given modulo 2^64,
    /// as a run of its allocations and frees with no peak among them would. Exact while no
    /// sum saturates.
    pub(super) fn apply_delta(&mut self, idx: u32, bytes: u64, count: u64) {
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

    /// The lifetimes grouped so far, plus what is still live (never freed).
    fn take_lifetimes(&mut self) -> Vec<Lifetime> {
        let Some(map) = self.lifetimes.take() else {
            return Vec::new();
        };
        let mut still: FxHashMap<(u32, u32), (u64, u64)> = FxHashMap::default();
        let live = self
            .blocks
            .values()
            .map(|&(size, idx, born)| (size, idx, born))
            .chain(self.ranges.values().copied());
        for (size, idx, born) in live {
            let e = still.entry((idx, born)).or_default();
            e.0 += size;
            e.1 += 1;
        }
        let mut out: Vec<Lifetime> = map
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
        out.sort_by_key(|l| (l.location, l.allocated_in, l.freed_in));
        out
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
            if let Some(l) = &mut self.lifetimes {
                let e = l.entry((idx, born, self.interval)).or_default();
                e.0 += removed;
                e.1 += u64::from(pieces == 0);
            }
            // The mapping counts as one allocation while any piece of it remains; a split
            // leaves one allocation per piece.
            let s_stats = self.touch(idx);
            s_stats.live_count = s_stats.live_count + pieces - 1;
            s_stats.live_bytes = s_stats.live_bytes.saturating_sub(removed);
            self.heap = self.heap.saturating_sub(removed);
        }
    }

    pub fn finish(
        mut self,
        defs: Definitions,
        header: Header,
        trailer: Option<Trailer>,
    ) -> Analysis {
        // The events after the last sample form the last interval.
        if let Some(t) = &mut self.temporal {
            let locs = &self.locs;
            t.end_interval(self.heap, |i| {
                let s = &locs[i as usize].1;
                (s.live_bytes, s.live_count)
            });
        }
        let lifetimes = self.take_lifetimes();
        let (interval_peaks, interval_runs) = match self.temporal.take() {
            Some(t) => (t.peaks, t.runs),
            None => (Vec::new(), Vec::new()),
        };
        for i in 0..self.locs.len() as u32 {
            self.touch(i);
        }
        let leaked_bytes = self.heap;
        Analysis {
            header,
            trailer,
            defs,
            locations: self.locs,
            peak_memory: self.peak,
            peak_event: self.peak_event,
            n_events: self.n_events,
            n_allocations: self.n_allocations,
            n_deallocations: self.n_deallocations,
            bytes_allocated: self.bytes_allocated,
            leaked_bytes,
            size_counts: self.sizes,
            snapshots: self.snapshots,
            threads: self.threads,
            temporary: self
                .temporary
                .map(TemporaryFinder::finish)
                .unwrap_or_default(),
            interval_peaks,
            interval_runs,
            lifetimes,
        }
    }
}
