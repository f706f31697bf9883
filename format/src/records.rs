//! The record types a capture is made of, as the writer takes them and the reader returns them.

use serde::Serialize;

/// Which allocation function produced an event. Names and numeric values are Memray's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[repr(u8)]
pub enum AllocatorType {
    PymallocFree = 1,
    PymallocMalloc = 2,
    PymallocCalloc = 3,
    PymallocRealloc = 4,
    Free = 5,
    Malloc = 6,
    Realloc = 7,
    Calloc = 8,
    PosixMemalign = 9,
    AlignedAlloc = 10,
    Memalign = 11,
    Valloc = 12,
    Pvalloc = 13,
    Mmap = 14,
    Munmap = 15,
}

impl AllocatorType {
    /// Every allocator, in numeric order (value 1 first).
    pub const ALL: [AllocatorType; 15] = [
        Self::PymallocFree,
        Self::PymallocMalloc,
        Self::PymallocCalloc,
        Self::PymallocRealloc,
        Self::Free,
        Self::Malloc,
        Self::Realloc,
        Self::Calloc,
        Self::PosixMemalign,
        Self::AlignedAlloc,
        Self::Memalign,
        Self::Valloc,
        Self::Pvalloc,
        Self::Mmap,
        Self::Munmap,
    ];

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v).checked_sub(1)?).copied()
    }

    /// Memray's enum member name (`MALLOC`, `PYMALLOC_FREE`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Malloc => "MALLOC",
            Self::Free => "FREE",
            Self::Calloc => "CALLOC",
            Self::Realloc => "REALLOC",
            Self::PosixMemalign => "POSIX_MEMALIGN",
            Self::AlignedAlloc => "ALIGNED_ALLOC",
            Self::Memalign => "MEMALIGN",
            Self::Valloc => "VALLOC",
            Self::Pvalloc => "PVALLOC",
            Self::Mmap => "MMAP",
            Self::Munmap => "MUNMAP",
            Self::PymallocMalloc => "PYMALLOC_MALLOC",
            Self::PymallocCalloc => "PYMALLOC_CALLOC",
            Self::PymallocRealloc => "PYMALLOC_REALLOC",
            Self::PymallocFree => "PYMALLOC_FREE",
        }
    }

    /// True for events that release memory (`free`, `munmap`, the pymalloc free).
    pub fn is_deallocator(self) -> bool {
        matches!(self, Self::Free | Self::Munmap | Self::PymallocFree)
    }

    /// True for the allocators that work on address ranges (`mmap`/`munmap`) rather than blocks.
    pub fn is_range(self) -> bool {
        matches!(self, Self::Mmap | Self::Munmap)
    }
}

/// How the tracked process laid out its allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum FileFormat {
    /// Every allocation and deallocation event, in order.
    #[default]
    AllAllocations = 0,
    /// Aggregated in the tracked process (peak and leaks by location).
    AggregatedAllocations = 1,
}

/// What the capture says about the tracked process; written once at the start of the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub pid: u32,
    pub main_thread_id: u32,
    /// Milliseconds since the Unix epoch when tracking started.
    pub start_time_ms: u64,
    pub command_line: String,
    pub python_version: String,
    /// `pymalloc`, `pymalloc debug`, `malloc` or `other`.
    pub python_allocator: String,
    pub native_traces: bool,
    pub trace_python_allocators: bool,
    pub follow_fork: bool,
    pub file_format: FileFormat,
    pub memory_interval_ms: u32,
    /// Outermost Python frames of the main thread that belong to the profiler itself (the
    /// frames above the one that started tracking); reports hide them.
    pub main_thread_skipped_frames: u32,
    /// Where the interpreter's standard library lives (sysconfig LIBDEST), for module names.
    pub stdlib_dir: String,
    pub site_packages: Vec<String>,
    pub sys_path: Vec<String>,
    /// The process that started this one, when it is tracked as part of a process tree
    /// (`--follow-fork`, `--follow-children`); 0 for the process `memray run` started, and in
    /// captures written before the field existed.
    pub parent_pid: u32,
    /// Byte-based Poisson sampling (`--sample-every`): the mean number of bytes between two
    /// sampled bytes; 0 when every allocation is recorded. In a sampled capture an allocation's
    /// `size` is the number of bytes it stands for (its size divided by the probability it had
    /// of being sampled), so every figure read from it is an estimate.
    pub sample_every: u64,
}

/// Totals written by the writer when it finishes cleanly (absent from a cut-short capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trailer {
    /// Milliseconds since the Unix epoch when tracking stopped.
    pub end_time_ms: u64,
    pub n_allocations: u64,
    pub n_deallocations: u64,
    pub n_codes: u64,
    pub n_nodes: u64,
    pub n_native_nodes: u64,
    pub n_memory_samples: u64,
}

/// An interned code location: one function of one file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeDef {
    pub function: String,
    pub filename: String,
    pub first_line: u32,
}

/// One node of the Python stack trie: the frame `code` at `line`, called from `parent`
/// (0 is the root: no caller). Node ids start at 1; a stack id is the id of its innermost node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StackNode {
    pub parent: u32,
    pub code: u32,
    pub line: u32,
    /// The frame was the first one its interpreter loop activation ran (CPython 3.11's
    /// `is_entry`): a native stack holds one eval-loop frame per entry frame. Always true in
    /// captures without native stacks.
    pub entry: bool,
}

/// One node of the native stack trie: return address `ip`, called from `parent` (0 = root).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NativeNode {
    pub parent: u32,
    pub ip: u64,
}

/// A loaded ELF object at the time of capture, for symbolizing native stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMap {
    pub path: String,
    pub load_address: u64,
    /// (virtual address relative to the load address, size) of each executable segment.
    pub segments: Vec<(u64, u64)>,
    /// The GNU build id of the object (empty when it has none), to tell whether the file read
    /// at report time is still the one that was loaded.
    pub build_id: Vec<u8>,
}

/// An allocation or deallocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub allocator: AllocatorType,
    pub thread: u32,
    pub address: u64,
    /// Bytes allocated; for `munmap`, bytes unmapped; 0 for `free`.
    pub size: u64,
    /// Python stack id (0 = no Python frames); 0 for deallocations.
    pub stack: u32,
    /// Native stack id (0 = none recorded).
    pub native_stack: u32,
}

/// A resident-set-size sample, placed in the event stream where it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySample {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub rss: u64,
}

/// One location of an aggregated capture (`FileFormat::AggregatedAllocations`): what the
/// tracked process summed up itself instead of writing every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateRecord {
    pub thread: u32,
    pub allocator: AllocatorType,
    pub stack: u32,
    pub native_stack: u32,
    /// Live at the high-water mark.
    pub peak_bytes: u64,
    pub peak_count: u64,
    /// Still live when tracking stopped.
    pub leaked_bytes: u64,
    pub leaked_count: u64,
    /// Everything allocated here.
    pub total_bytes: u64,
    pub total_count: u64,
}

/// The totals of an aggregated capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AggregateTotals {
    pub peak_memory: u64,
    pub n_allocations: u64,
    pub n_deallocations: u64,
    pub bytes_allocated: u64,
}

/// A memory sample with the heap size the tracked process computed (aggregated captures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapSample {
    pub time_ms: u64,
    pub rss: u64,
    pub heap: u64,
}

/// A thread's name, as set by `threading` or `prctl(PR_SET_NAME)`; the latest one wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadName {
    pub thread: u32,
    pub name: String,
}
