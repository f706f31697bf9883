//! The Rust side of `memray.FileReader` and `memray.compute_statistics`: opens a capture, runs
//! the shared analyses of the `memray-analysis` crate (the same code the `memray-*` programs use), and
//! hands Python plain tuples, lists and dicts (the Python side wraps them).

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use memray_analysis::snapshot::{aggregate, Aggregate, View};
use memray_analysis::stats::{self, location_name};
use memray_analysis::temporal_records;
use memray_analysis::{analyze, Analysis, ReplayOptions};
use memray_format::Capture;

pub(crate) type Frame = (String, String, u32);

/// Frames as Python's (function, filename, line) tuples, at most `max_stacks` of them.
pub(crate) fn frame_tuples<'a>(
    frames: impl IntoIterator<Item = memray_analysis::Frame<'a>>,
    max_stacks: Option<usize>,
) -> Vec<Frame> {
    frames
        .into_iter()
        .take(max_stacks.unwrap_or(usize::MAX))
        .map(|f| (f.function.to_string(), f.filename.to_string(), f.line))
        .collect()
}

/// The Python frames of `stack` on `tid`, innermost first. Without `max_stacks`, the main
/// thread's frames that belong to whoever started tracking are left out (Memray's rule); with
/// it, the first `max_stacks` frames are returned and nothing is left out. `skip_main=False`
/// never leaves anything out (Memray's hybrid stacks of captures without native frames).
pub(crate) fn python_stack(
    defs: &memray_analysis::Definitions,
    header: &memray_format::Header,
    stack: u32,
    tid: u32,
    max_stacks: Option<usize>,
    skip_main: bool,
) -> Vec<Frame> {
    match max_stacks {
        None if skip_main => frame_tuples(
            memray_analysis::frames::visible_frames_in(
                defs,
                header.main_thread_id,
                header.main_thread_skipped_frames,
                stack,
                0,
                tid,
            ),
            None,
        ),
        _ => frame_tuples(defs.frames(stack), max_stacks),
    }
}
/// (tid, allocator, stack id, native stack id, native segment generation): Memray's
/// temporal record tuple.
type TemporalKey = (u32, u8, u32, u32, u32);
/// (allocated before snapshot, deallocated before snapshot or None, n_allocations, n_bytes):
/// Memray's `Interval`.
type IntervalTuple = (u32, Option<u32>, u64, u64);
/// One temporal record: its key and its intervals.
type TemporalRecord = (TemporalKey, Vec<IntervalTuple>);
/// (tid, address, size, allocator, stack id, n_allocations, native stack id, native segment
/// generation), Memray's record tuple.
pub(crate) type RecordTuple = (u32, u64, u64, u8, u32, u64, u32, u32);
/// A record of `all_records`: a [`RecordTuple`] and the id of its thread's name at that moment
/// (see [`NamesOverTime`]; 0 when no name was recorded yet).
type EventTuple = (u32, u64, u64, u8, u32, u64, u32, u32, u32);

/// Thread names as they change along the capture: every name record gets an id (from 1), and
/// each thread's current one is known at every event.
#[derive(Default)]
struct NamesOverTime {
    current: rustc_hash::FxHashMap<u32, u32>,
    all: Vec<String>,
}

impl NamesOverTime {
    fn set(&mut self, t: &memray_format::ThreadName) {
        self.all.push(t.name.clone());
        self.current.insert(t.thread, self.all.len() as u32);
    }

    fn version(&self, thread: u32) -> u32 {
        self.current.get(&thread).copied().unwrap_or(0)
    }
}

#[pyclass(name = "CaptureReader", module = "memray._memray", frozen)]
pub struct CaptureReader {
    path: String,
    analysis: Analysis,
    /// The names [`EventTuple`]s refer to, from the last `all_records`.
    names_over_time: std::sync::Mutex<Vec<String>>,
}

fn os_error(e: impl std::fmt::Display) -> PyErr {
    PyOSError::new_err(e.to_string())
}

fn open_capture(path: &str) -> PyResult<Capture> {
    Capture::open(path).map_err(os_error)
}

/// Reads the whole capture once with the given options.
fn analyze_path(py: Python<'_>, path: &str, opts: ReplayOptions) -> PyResult<Analysis> {
    py.detach(|| {
        let mut c = Capture::open(path)?;
        analyze(&mut c, opts)
    })
    .map_err(os_error)
}

/// The combined peak of captures of processes that ran side by side (pytest-xdist workers'
/// tests): the highest sum of their heaps at one moment, and each one's heap then.
#[pyfunction]
pub(crate) fn combined_peak(py: Python<'_>, paths: Vec<String>) -> PyResult<(u64, Vec<u64>)> {
    let opts = ReplayOptions {
        temporal_peaks: true,
        ..Default::default()
    };
    let analyses = paths
        .iter()
        .map(|p| analyze_path(py, p, opts))
        .collect::<PyResult<Vec<Analysis>>>()?;
    let refs: Vec<&Analysis> = analyses.iter().collect();
    let peak = memray_analysis::process_set::combined_peak(&refs);
    Ok((peak.bytes, peak.heaps))
}

pub(crate) fn group_tuple(g: &Aggregate) -> RecordTuple {
    // Merged groups keep the thread of their first allocation, as Memray's do.
    (
        g.thread,
        g.address,
        g.size,
        g.allocator as u8,
        g.stack,
        g.count,
        g.native_stack,
        0,
    )
}

/// Memray's `Metadata` fields (times in ms since the epoch; Python makes datetimes of them).
fn metadata_dict<'py>(py: Python<'py>, a: &Analysis) -> PyResult<Bound<'py, PyDict>> {
    let h = &a.header;
    let d = PyDict::new(py);
    d.set_item("start_time_ms", h.start_time_ms)?;
    d.set_item("end_time_ms", a.end_time_ms())?;
    d.set_item("total_allocations", a.n_events)?;
    d.set_item("total_frames", a.defs.codes.len())?;
    d.set_item("peak_memory", a.peak_memory)?;
    d.set_item("command_line", &h.command_line)?;
    d.set_item("pid", h.pid)?;
    d.set_item("main_thread_id", h.main_thread_id)?;
    d.set_item("python_allocator", &h.python_allocator)?;
    d.set_item("has_native_traces", h.native_traces)?;
    d.set_item("trace_python_allocators", h.trace_python_allocators)?;
    d.set_item("file_format", h.file_format as u8)?;
    d.set_item("complete", a.trailer.is_some())?;
    d.set_item("sample_every", h.sample_every)?;
    Ok(d)
}

/// A temporal record as Python's tuples.
fn temporal_tuple(r: temporal_records::TemporalRecord) -> TemporalRecord {
    let k = r.key;
    (
        (k.thread, k.allocator, k.stack, k.native_stack, k.generation),
        r.intervals
            .into_iter()
            .map(|i| {
                (
                    i.allocated_before,
                    i.deallocated_before,
                    i.n_allocations,
                    i.n_bytes,
                )
            })
            .collect(),
    )
}

impl CaptureReader {
    /// A second pass over the capture for the temporal views (refused on aggregated ones).
    fn temporal_analysis(&self, py: Python<'_>, opts: ReplayOptions) -> PyResult<Analysis> {
        self.refuse_aggregated(
            "Can't get temporal allocations from a pre-aggregated capture file.",
        )?;
        analyze_path(py, &self.path, opts)
    }

    fn refuse_aggregated(&self, message: &str) -> PyResult<()> {
        if self.analysis.header.file_format == memray_format::FileFormat::AggregatedAllocations {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(
                message.to_string(),
            ));
        }
        Ok(())
    }
}

#[pymethods]
impl CaptureReader {
    #[new]
    fn new(py: Python<'_>, path: String) -> PyResult<Self> {
        let analysis = analyze_path(py, &path, ReplayOptions::default())?;
        Ok(CaptureReader {
            path,
            analysis,
            names_over_time: Default::default(),
        })
    }

    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metadata_dict(py, &self.analysis)
    }

    /// Allocations live at the peak (`"peak"`) or at the end (`"leaks"`), grouped by stack.
    fn aggregate(&self, view: &str, merge_threads: bool) -> PyResult<Vec<RecordTuple>> {
        let view = match view {
            "peak" => View::Peak,
            "leaks" => View::Leaks,
            _ => return Err(PyValueError::new_err(format!("unknown view {view:?}"))),
        };
        Ok(aggregate(&self.analysis, view, merge_threads)
            .iter()
            .map(group_tuple)
            .collect())
    }

    /// Temporary allocations (freed by the same thread within `threshold` other allocations),
    /// grouped by stack. Reads the capture again with the temporary-allocation finder on.
    fn temporary(
        &self,
        py: Python<'_>,
        merge_threads: bool,
        threshold: usize,
    ) -> PyResult<Vec<RecordTuple>> {
        self.refuse_aggregated(
            "Can't find temporary allocations using a pre-aggregated capture file.",
        )?;
        let a = analyze_path(
            py,
            &self.path,
            ReplayOptions {
                temporary_threshold: Some(threshold),
                ..Default::default()
            },
        )?;
        Ok(aggregate(&a, View::Temporary, merge_threads)
            .iter()
            .map(group_tuple)
            .collect())
    }

    /// Every allocation and deallocation event, in order.
    fn all_records(&self, py: Python<'_>) -> PyResult<Vec<EventTuple>> {
        self.refuse_aggregated("Can't get all allocations from a pre-aggregated capture file.")?;
        let path = self.path.clone();
        py.detach(move || {
            let mut c = open_capture(&path)?;
            let rate = c.header().sample_every;
            let mut out = Vec::new();
            let mut names = NamesOverTime::default();
            c.for_each_chunk(|chunk| {
                let mut next_name = 0;
                for (i, e) in chunk.events.iter().enumerate() {
                    while chunk.thread_name_at.get(next_name) == Some(&(i as u32)) {
                        names.set(&chunk.thread_names[next_name]);
                        next_name += 1;
                    }
                    out.push((
                        e.thread,
                        e.address,
                        e.size,
                        e.allocator as u8,
                        e.stack,
                        // A sampled allocation stands for 1/p allocations.
                        if e.allocator.is_deallocator() {
                            1
                        } else {
                            memray_format::sampling::count_weight(e.size, rate, e.address)
                        },
                        e.native_stack,
                        0,
                        names.version(e.thread),
                    ));
                }
                for t in &chunk.thread_names[next_name..] {
                    names.set(t);
                }
                Ok(())
            })
            .map_err(os_error)?;
            *self
                .names_over_time
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = names.all;
            Ok(out)
        })
    }

    /// The Python frames of a stack, innermost first (see [`python_stack`]).
    #[pyo3(signature = (stack, tid, max_stacks=None, skip_main=true))]
    fn stack(
        &self,
        stack: u32,
        tid: u32,
        max_stacks: Option<usize>,
        skip_main: bool,
    ) -> Vec<Frame> {
        let a = &self.analysis;
        python_stack(&a.defs, &a.header, stack, tid, max_stacks, skip_main)
    }

    /// The frames of native stack `native`, innermost first: those of its first `max_stacks`
    /// return addresses, each with its inlined frames (Memray counts addresses, not frames).
    #[pyo3(signature = (native, max_stacks=None))]
    fn native_stack(&self, native: u32, max_stacks: Option<usize>) -> Vec<Frame> {
        let defs = &self.analysis.defs;
        defs.native_ips(native)
            .take(max_stacks.unwrap_or(usize::MAX))
            .flat_map(|(id, _)| defs.native_symbols.frames(id))
            .map(|f| (f.function.clone(), f.filename.clone(), f.line))
            .collect()
    }

    /// The hybrid stack of Python stack `stack` and native stack `native` on thread `tid`,
    /// innermost first, at most `max_stacks` frames (the main thread's rule applies).
    #[pyo3(signature = (stack, native, tid, max_stacks=None))]
    fn hybrid_stack(
        &self,
        stack: u32,
        native: u32,
        tid: u32,
        max_stacks: Option<usize>,
    ) -> Vec<Frame> {
        let a = &self.analysis;
        if native == 0 {
            return frame_tuples(a.defs.frames(stack), max_stacks);
        }
        frame_tuples(
            memray_analysis::frames::visible_frames(a, stack, native, tid),
            max_stacks,
        )
    }

    /// The thread name with id `id` in the last `all_records` (see [`NamesOverTime`]).
    fn thread_name_version(&self, id: u32) -> Option<String> {
        let names = self
            .names_over_time
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        names.get((id as usize).checked_sub(1)?).cloned()
    }

    fn thread_name(&self, tid: u32) -> String {
        self.analysis
            .defs
            .thread_name(tid)
            .unwrap_or("")
            .to_string()
    }

    /// (time in ms since the epoch, RSS bytes, heap bytes) at each sample; every `stride`-th
    /// one when there are more than `max_records`.
    #[pyo3(signature = (max_records=0))]
    fn memory_snapshots(&self, max_records: usize) -> Vec<(u64, u64, u64)> {
        temporal_records::thin(&self.analysis.snapshots, max_records)
            .1
            .into_iter()
            .map(|s| (s.time_ms, s.rss, s.heap))
            .collect()
    }

    /// `get_temporal_high_water_mark_allocation_records`: for each location, its (count,
    /// bytes) at the heap's peak inside each interval between memory samples, as intervals
    /// over which it holds; and the peak of each interval (one more than there are samples).
    fn temporal_peaks(
        &self,
        py: Python<'_>,
        merge_threads: bool,
        max_records: usize,
    ) -> PyResult<(Vec<TemporalRecord>, Vec<u64>)> {
        let a = self.temporal_analysis(
            py,
            ReplayOptions {
                temporal_peaks: true,
                ..Default::default()
            },
        )?;
        let (records, peaks) =
            temporal_records::high_water_mark_records(&a, merge_threads, max_records);
        Ok((records.into_iter().map(temporal_tuple).collect(), peaks))
    }

    /// `get_temporal_allocation_records`: for each location, its allocations grouped by the
    /// interval between memory samples they were made in and the one they were freed in
    /// (None: never freed).
    fn temporal_lifetimes(
        &self,
        py: Python<'_>,
        merge_threads: bool,
        max_records: usize,
    ) -> PyResult<Vec<TemporalRecord>> {
        let a = self.temporal_analysis(
            py,
            ReplayOptions {
                lifetimes: true,
                ..Default::default()
            },
        )?;
        Ok(
            temporal_records::allocation_records(&a, merge_threads, max_records)
                .into_iter()
                .map(temporal_tuple)
                .collect(),
        )
    }

    /// `memray.compute_statistics`: the figures `memray-stats` reports, as a dict of plain
    /// values (`metadata`, totals, counts by size and by allocator name, top locations as
    /// `((function, file, line), value)`, top modules as `(name, count, bytes)`).
    #[staticmethod]
    fn statistics<'py>(
        py: Python<'py>,
        path: String,
        num_largest: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let a = analyze_path(
            py,
            &path,
            ReplayOptions {
                size_counts: true,
                ..Default::default()
            },
        )?;
        let s = stats::compute(&a, num_largest);
        // The location names `stats` ranks, back to the (function, file, line) of their frame.
        let mut frames: rustc_hash::FxHashMap<String, Frame> = rustc_hash::FxHashMap::default();
        for (key, _) in &a.locations {
            let name = location_name(&a.defs, key.stack);
            frames
                .entry(name)
                .or_insert_with(|| match a.defs.top_frame(key.stack) {
                    Some(f) if f.function != "<unknown>" => {
                        (f.function.to_string(), f.filename.to_string(), f.line)
                    }
                    _ => ("<unknown>".to_string(), "<unknown>".to_string(), 0),
                });
        }
        let location = |name: &str| {
            frames
                .get(name)
                .cloned()
                .unwrap_or_else(|| ("<unknown>".to_string(), "<unknown>".to_string(), 0))
        };
        let d = PyDict::new(py);
        d.set_item("metadata", metadata_dict(py, &a)?)?;
        d.set_item("total_num_allocations", s.total_num_allocations)?;
        d.set_item("total_memory_allocated", s.total_bytes_allocated)?;
        d.set_item("peak_memory_allocated", a.peak_memory)?;
        let by_size = PyDict::new(py);
        let mut sizes: Vec<(&u64, &u64)> = a.size_counts.iter().collect();
        sizes.sort_unstable();
        for (size, count) in sizes {
            by_size.set_item(size, count)?;
        }
        d.set_item("allocation_count_by_size", by_size)?;
        let by_allocator = PyDict::new(py);
        for (allocator, count) in &s.allocator_distribution {
            by_allocator.set_item(allocator.name(), count)?;
        }
        d.set_item("allocation_count_by_allocator", by_allocator)?;
        let top = |v: &[stats::Ranked], bytes: bool| -> PyResult<Bound<'py, PyList>> {
            let items: Vec<(Frame, u64)> = v
                .iter()
                .map(|r| (location(&r.name), if bytes { r.bytes } else { r.count }))
                .collect();
            PyList::new(py, items)
        };
        d.set_item("top_locations_by_size", top(&s.top_by_size, true)?)?;
        d.set_item("top_locations_by_count", top(&s.top_by_count, false)?)?;
        let modules = |v: &[stats::Ranked]| -> Vec<(String, u64, u64)> {
            v.iter()
                .map(|m| (m.name.clone(), m.count, m.bytes))
                .collect()
        };
        d.set_item(
            "top_modules_by_allocation_size",
            modules(&s.modules_by_size),
        )?;
        d.set_item(
            "top_modules_by_allocation_count",
            modules(&s.modules_by_count),
        )?;
        Ok(d)
    }
}
