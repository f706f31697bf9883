//! A capture set: the captures of one process tree (`memray run --follow-children`, or
//! `--follow-fork`), one per process, reported on together. Each is analysed on its own (with
//! the temporal peaks, so its live set at any moment is known); [`merge`] then builds one
//! [`Analysis`] every report can take unchanged:
//!
//! - **The combined peak** is the highest *sum* over wall-clock time of the processes' heaps
//!   (each process's heap taken as its peak inside the interval between two of its memory
//!   samples that contains the moment), not the sum of the processes' own peaks; the peak view
//!   shows what each process had live at that moment. Both figures are kept ([`Process`]).
//! - Stacks are re-interned by their frames, so one function in two processes is one place in
//!   the reports; the outer frames of each main thread that belong to the profiler are cut off
//!   here (the merged header hides none). Threads are renumbered across the set and named with
//!   their process.
//! - Leaks, totals, counts and temporary allocations are sums over the processes; the memory
//!   over time is the sum of the processes' samples on one clock.
//!
//! Aggregated captures (`--aggregate`) have no memory over time: such a process counts with its
//! own peak for its whole life, and its peak view is its own peak's.

use rustc_hash::FxHashMap;

use super::definitions::Definitions;
use super::replay::{Analysis, LocKey, LocStats, Snapshot};
use memray_format::records::{CodeDef, FileFormat, StackNode, Trailer};

/// One process of a merged set, as reports list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The capture file it was read from.
    pub path: String,
    pub pid: u32,
    /// 0 for the root of the tree (or a process whose parent was not tracked).
    pub parent_pid: u32,
    pub command_line: String,
    pub start_time_ms: u64,
    pub end_time_ms: u64,
    /// Its own highest heap.
    pub peak_memory: u64,
    /// Its heap at the moment of the combined peak (0 when it was not running then).
    pub heap_at_combined_peak: u64,
    pub n_allocations: u64,
    pub bytes_allocated: u64,
    pub leaked_bytes: u64,
    /// False when the capture was cut short (the process was killed).
    pub complete: bool,
    /// Its threads, by their ids in the merged analysis.
    pub threads: Vec<u32>,
    /// Its own memory samples (the merged analysis has their sums).
    pub snapshots: Vec<Snapshot>,
}

/// The moment the processes' heaps summed highest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CombinedPeak {
    pub time_ms: u64,
    pub bytes: u64,
    /// For each process: the interval (see `observers::temporal_peaks`) containing the moment,
    /// or None when the process was not running then.
    pub intervals: Vec<Option<usize>>,
    /// For each process: its heap at the moment.
    pub heaps: Vec<u64>,
}

/// Process `a`'s interval containing wall-clock `t` (interval k ends at sample k), or None
/// outside its life.
fn interval_at(a: &Analysis, t: u64) -> Option<usize> {
    if t < a.header.start_time_ms || t > a.end_time_ms() {
        return None;
    }
    Some(a.snapshots.partition_point(|s| s.time_ms < t))
}

/// Process `a`'s heap at wall-clock `t`: its peak inside the interval containing `t`.
fn heap_at(a: &Analysis, t: u64) -> (Option<usize>, u64) {
    match interval_at(a, t) {
        None => (None, 0),
        Some(k) if a.header.file_format == FileFormat::AggregatedAllocations => {
            (Some(k), a.peak_memory)
        }
        Some(k) => (
            Some(k),
            a.interval_peaks.get(k).copied().unwrap_or(a.peak_memory),
        ),
    }
}

/// The moment of the highest sum of the processes' heaps (the earliest, on a tie).
pub fn combined_peak(members: &[&Analysis]) -> CombinedPeak {
    let mut moments: Vec<u64> = members
        .iter()
        .flat_map(|a| {
            a.snapshots
                .iter()
                .map(|s| s.time_ms)
                .chain([a.header.start_time_ms, a.end_time_ms()])
        })
        .collect();
    moments.sort_unstable();
    moments.dedup();
    let mut best = CombinedPeak {
        time_ms: moments.first().copied().unwrap_or(0),
        bytes: 0,
        intervals: vec![None; members.len()],
        heaps: vec![0; members.len()],
    };
    let mut found = false;
    for &t in &moments {
        let at: Vec<(Option<usize>, u64)> = members.iter().map(|a| heap_at(a, t)).collect();
        let sum = at.iter().fold(0u64, |s, (_, h)| s.saturating_add(*h));
        if !found || sum > best.bytes {
            found = true;
            best = CombinedPeak {
                time_ms: t,
                bytes: sum,
                intervals: at.iter().map(|(k, _)| *k).collect(),
                heaps: at.iter().map(|(_, h)| *h).collect(),
            };
        }
    }
    best
}

/// A location's live (bytes, count) at the peak of `interval`, from its runs.
fn at_interval(a: &Analysis, loc: usize, interval: usize) -> (u64, u64) {
    let Some(runs) = a.interval_runs.get(loc) else {
        return (0, 0);
    };
    let i = runs.partition_point(|(first, _, _)| (*first as usize) <= interval);
    i.checked_sub(1)
        .and_then(|i| runs.get(i))
        .map_or((0, 0), |&(_, bytes, count)| (bytes, count))
}

/// Builds the merged dictionaries: codes and Python stack nodes re-interned by content.
#[derive(Default)]
struct Interner {
    defs: Definitions,
    codes: FxHashMap<CodeDef, u32>,
    nodes: FxHashMap<StackNode, u32>,
}

impl Interner {
    fn code(&mut self, c: &CodeDef) -> u32 {
        if let Some(&id) = self.codes.get(c) {
            return id;
        }
        let id = self.defs.codes.len() as u32;
        self.defs.codes.push(c.clone());
        self.codes.insert(c.clone(), id);
        id
    }

    fn node(&mut self, n: StackNode) -> u32 {
        if let Some(&id) = self.nodes.get(&n) {
            return id;
        }
        self.defs.nodes.push(n);
        let id = self.defs.nodes.len() as u32;
        self.nodes.insert(n, id);
        id
    }
}

/// One member's ids in the merged dictionaries.
struct Remap {
    /// `nodes[id]`: the merged id of member node `id` (`nodes[0]` = 0, the root).
    nodes: Vec<u32>,
    /// Merged ids of the member's main-thread stacks with the profiler's outer frames cut.
    main_stacks: FxHashMap<u32, u32>,
    native_offset: u32,
    threads: FxHashMap<u32, u32>,
    main_thread: u32,
    skipped: u32,
}

impl Remap {
    fn new(a: &Analysis, into: &mut Interner) -> Remap {
        let codes: Vec<u32> = a.defs.codes.iter().map(|c| into.code(c)).collect();
        let mut nodes = Vec::with_capacity(a.defs.nodes.len() + 1);
        nodes.push(0);
        for n in &a.defs.nodes {
            // Parents come first (a node's parent id is smaller); a malformed link is the root.
            let parent = nodes.get(n.parent as usize).copied().unwrap_or(0);
            let code = codes.get(n.code as usize).copied().unwrap_or(u32::MAX);
            let id = into.node(StackNode { parent, code, ..*n });
            nodes.push(id);
        }
        Remap {
            nodes,
            main_stacks: FxHashMap::default(),
            native_offset: into.defs.native_nodes.len() as u32,
            threads: FxHashMap::default(),
            main_thread: a.header.main_thread_id,
            skipped: a.header.main_thread_skipped_frames,
        }
    }

    /// The merged id of stack `stack` seen on `thread`: on the main thread, without its
    /// outermost `skipped` frames (native stacks keep them: the hybrid stack needs them whole).
    fn stack(&mut self, a: &Analysis, into: &mut Interner, key: &LocKey) -> u32 {
        let whole = self.nodes.get(key.stack as usize).copied().unwrap_or(0);
        if key.thread != self.main_thread || self.skipped == 0 || key.native_stack != 0 {
            return whole;
        }
        if let Some(&id) = self.main_stacks.get(&key.stack) {
            return id;
        }
        let mut chain: Vec<StackNode> = Vec::new();
        let mut cur = key.stack;
        while let Some(n) = a.defs.node(cur) {
            chain.push(*n);
            cur = if n.parent < cur { n.parent } else { 0 };
        }
        let keep = chain.len().saturating_sub(self.skipped as usize);
        let mut parent = 0;
        for n in chain[..keep].iter().rev() {
            let code = self.code_of(a, into, n.code);
            parent = into.node(StackNode { parent, code, ..*n });
        }
        self.main_stacks.insert(key.stack, parent);
        parent
    }

    fn code_of(&self, a: &Analysis, into: &mut Interner, code: u32) -> u32 {
        a.defs
            .codes
            .get(code as usize)
            .map_or(u32::MAX, |c| into.code(c))
    }

    fn native(&self, id: u32) -> u32 {
        if id == 0 {
            0
        } else {
            id.saturating_add(self.native_offset)
        }
    }
}

/// The merged analysis of a process set (`members` in any order; at least one). The merged
/// header is the root process's (the earliest started without a tracked parent), with no
/// hidden frames; `processes` lists every member in order of start.
pub fn merge(mut members: Vec<(String, Analysis)>) -> Analysis {
    members.sort_by_key(|(_, a)| (a.header.start_time_ms, a.header.pid));
    let pids: Vec<u32> = members.iter().map(|(_, a)| a.header.pid).collect();
    let root = members
        .iter()
        .position(|(_, a)| !pids.contains(&a.header.parent_pid) || a.header.parent_pid == 0)
        .unwrap_or(0);
    let analyses: Vec<&Analysis> = members.iter().map(|(_, a)| a).collect();
    let peak = combined_peak(&analyses);

    let mut into = Interner::default();
    let mut out_locations: Vec<(LocKey, LocStats)> = Vec::new();
    let mut temporary = Vec::new();
    let mut threads: Vec<u32> = Vec::new();
    let mut thread_names: FxHashMap<u32, String> = FxHashMap::default();
    let mut size_counts: FxHashMap<u64, u64> = FxHashMap::default();
    let mut processes = Vec::with_capacity(members.len());
    let mut loc_index: FxHashMap<LocKey, usize> = FxHashMap::default();
    let mut header = members[root].1.header.clone();

    for (m, (path, a)) in members.iter().enumerate() {
        let mut remap = Remap::new(a, &mut into);
        let first_thread = threads.len();
        // Native dictionaries are appended whole (their ids shift by the offset).
        append_native(&mut into.defs, &a.defs, remap.native_offset);
        for &t in &a.threads {
            let id = threads.len() as u32 + 1;
            threads.push(id);
            remap.threads.insert(t, id);
            let name = a
                .defs
                .thread_name(t)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    if t == a.header.main_thread_id {
                        "MainThread".to_string()
                    } else {
                        format!("thread {t}")
                    }
                });
            thread_names.insert(id, format!("{name} (pid {})", a.header.pid));
        }
        let interval = peak.intervals[m];
        let aggregated = a.header.file_format == FileFormat::AggregatedAllocations;
        for (idx, (key, stats)) in a.locations.iter().enumerate() {
            let new_key = LocKey {
                thread: thread_of(&mut remap, &mut threads, &mut thread_names, a, key.thread),
                allocator: key.allocator,
                stack: remap.stack(a, &mut into, key),
                native_stack: remap.native(key.native_stack),
            };
            let (peak_bytes, peak_count) = match interval {
                None => (0, 0),
                Some(_) if aggregated => (stats.peak_bytes, stats.peak_count),
                Some(k) => at_interval(a, idx, k),
            };
            let i = *loc_index.entry(new_key).or_insert_with(|| {
                let mut s = LocStats::default();
                s.first_address = stats.first_address;
                out_locations.push((new_key, s));
                out_locations.len() - 1
            });
            let s = &mut out_locations[i].1;
            s.total_bytes = s.total_bytes.saturating_add(stats.total_bytes);
            s.total_count = s.total_count.saturating_add(stats.total_count);
            s.live_bytes = s.live_bytes.saturating_add(stats.live_bytes);
            s.live_count = s.live_count.saturating_add(stats.live_count);
            s.peak_bytes = s.peak_bytes.saturating_add(peak_bytes);
            s.peak_count = s.peak_count.saturating_add(peak_count);
        }
        for t in &a.temporary {
            let mut t = *t;
            t.key = LocKey {
                thread: thread_of(&mut remap, &mut threads, &mut thread_names, a, t.key.thread),
                allocator: t.key.allocator,
                stack: remap.stack(a, &mut into, &t.key),
                native_stack: remap.native(t.key.native_stack),
            };
            temporary.push(t);
        }
        for (size, n) in &a.size_counts {
            let c = size_counts.entry(*size).or_insert(0);
            *c = c.saturating_add(*n);
        }
        if m == root {
            header.main_thread_id = remap
                .threads
                .get(&a.header.main_thread_id)
                .copied()
                .unwrap_or(0);
        }
        processes.push(Process {
            path: path.clone(),
            pid: a.header.pid,
            parent_pid: a.header.parent_pid,
            command_line: a.header.command_line.clone(),
            start_time_ms: a.header.start_time_ms,
            end_time_ms: a.end_time_ms(),
            peak_memory: a.peak_memory,
            heap_at_combined_peak: peak.heaps[m],
            n_allocations: a.n_allocations,
            bytes_allocated: a.bytes_allocated,
            leaked_bytes: a.leaked_bytes,
            complete: a.trailer.is_some(),
            threads: threads[first_thread..].to_vec(),
            snapshots: a.snapshots.clone(),
        });
    }
    into.defs.thread_names = thread_names;
    header.main_thread_skipped_frames = 0;
    header.pid = members[root].1.header.pid;
    header.parent_pid = 0;
    header.start_time_ms = processes.iter().map(|p| p.start_time_ms).min().unwrap_or(0);
    let end_time_ms = processes.iter().map(|p| p.end_time_ms).max().unwrap_or(0);
    let sum = |f: fn(&Analysis) -> u64| analyses.iter().fold(0u64, |s, a| s.saturating_add(f(a)));
    let trailer = Trailer {
        end_time_ms,
        n_allocations: sum(|a| a.n_allocations),
        n_deallocations: sum(|a| a.n_deallocations),
        n_codes: into.defs.codes.len() as u64,
        n_nodes: into.defs.nodes.len() as u64,
        n_native_nodes: into.defs.native_nodes.len() as u64,
        n_memory_samples: sum(|a| a.snapshots.len() as u64),
    };
    Analysis {
        header,
        trailer: Some(trailer),
        locations: out_locations,
        peak_memory: peak.bytes,
        peak_event: 0,
        n_events: sum(|a| a.n_events),
        n_allocations: trailer.n_allocations,
        n_deallocations: trailer.n_deallocations,
        bytes_allocated: sum(|a| a.bytes_allocated),
        leaked_bytes: sum(|a| a.leaked_bytes),
        size_counts,
        snapshots: summed_snapshots(&analyses),
        threads,
        temporary,
        interval_peaks: Vec::new(),
        interval_runs: Vec::new(),
        lifetimes: Vec::new(),
        defs: into.defs,
        processes,
    }
}

/// A thread of the member not listed among its threads (a malformed capture): numbered on
/// first sight.
fn thread_of(
    remap: &mut Remap,
    threads: &mut Vec<u32>,
    names: &mut FxHashMap<u32, String>,
    a: &Analysis,
    thread: u32,
) -> u32 {
    if let Some(&id) = remap.threads.get(&thread) {
        return id;
    }
    let id = threads.len() as u32 + 1;
    threads.push(id);
    remap.threads.insert(thread, id);
    names.insert(id, format!("thread {thread} (pid {})", a.header.pid));
    id
}

fn append_native(into: &mut Definitions, from: &Definitions, offset: u32) {
    into.native_nodes.extend(from.native_nodes.iter().map(|n| {
        let mut n = *n;
        if n.parent != 0 {
            n.parent = n.parent.saturating_add(offset);
        }
        n
    }));
    into.image_generations
        .extend(from.image_generations.iter().map(|g| {
            let mut g = g.clone();
            g.first_native_node = g.first_native_node.saturating_add(offset);
            g
        }));
    into.native_symbols.append(&from.native_symbols);
}

/// A process's latest sample at wall-clock `t`, if it was running then (`life` is its start
/// and end) and had taken one.
fn latest_sample(snapshots: &[Snapshot], life: (u64, u64), t: u64) -> Option<&Snapshot> {
    if t < life.0 || t > life.1 {
        return None;
    }
    let i = snapshots.partition_point(|s| s.time_ms <= t);
    snapshots.get(i.checked_sub(1)?)
}

impl Process {
    /// Its latest memory sample at wall-clock `t`, if it was running then: its share of the
    /// merged analysis's sample at `t`.
    pub fn sample_at(&self, t: u64) -> Option<&Snapshot> {
        latest_sample(&self.snapshots, (self.start_time_ms, self.end_time_ms), t)
    }
}

/// The memory over time of the whole set: at every moment any process took a sample, the sum
/// of each running process's latest sample.
fn summed_snapshots(members: &[&Analysis]) -> Vec<Snapshot> {
    let mut times: Vec<u64> = members
        .iter()
        .flat_map(|a| a.snapshots.iter().map(|s| s.time_ms))
        .collect();
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .map(|t| {
            let mut rss = 0u64;
            let mut heap = 0u64;
            for a in members {
                let life = (a.header.start_time_ms, a.end_time_ms());
                if let Some(s) = latest_sample(&a.snapshots, life, t) {
                    rss = rss.saturating_add(s.rss);
                    heap = heap.saturating_add(s.heap);
                }
            }
            Snapshot {
                time_ms: t,
                rss,
                heap,
            }
        })
        .collect()
}
