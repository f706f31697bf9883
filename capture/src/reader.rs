//! The Rust side of `memray.FileReader`: opens a capture, runs the shared analyses of the
//! format crate once, and hands Python plain tuples (the Python side wraps them).

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use memray_format::analysis::snapshot::{aggregate, View};
use memray_format::analysis::{analyze, Analysis, ReplayOptions};
use memray_format::Capture;

type Frame = (String, String, u32);
/// (tid, address, size, allocator, stack id, n_allocations, native stack id)
type RecordTuple = (u32, u64, u64, u8, u32, u64, u32);

#[pyclass(name = "CaptureReader", module = "memray._memray", frozen)]
pub struct CaptureReader {
    path: String,
    analysis: Analysis,
}

fn open_capture(path: &str) -> PyResult<Capture> {
    Capture::open(path).map_err(|e| PyOSError::new_err(e.to_string()))
}

#[pymethods]
impl CaptureReader {
    #[new]
    fn new(py: Python<'_>, path: String) -> PyResult<Self> {
        let analysis = py
            .detach(|| {
                let mut c = Capture::open(&path)?;
                analyze(&mut c, ReplayOptions::default())
            })
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(CaptureReader { path, analysis })
    }

    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let a = &self.analysis;
        let h = &a.header;
        let d = PyDict::new(py);
        let end = a
            .trailer
            .map(|t| t.end_time_ms)
            .or_else(|| a.snapshots.last().map(|s| s.time_ms))
            .unwrap_or(h.start_time_ms);
        d.set_item("start_time_ms", h.start_time_ms)?;
        d.set_item("end_time_ms", end)?;
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
        Ok(d)
    }

    /// Allocations live at the peak (`"peak"`) or at the end (`"leaks"`), grouped by stack.
    fn aggregate(&self, view: &str, merge_threads: bool) -> PyResult<Vec<RecordTuple>> {
        let view = match view {
            "peak" => View::Peak,
            "leaks" => View::Leaks,
            _ => return Err(PyValueError::new_err(format!("unknown view {view:?}"))),
        };
        Ok(aggregate(&self.analysis, view, merge_threads)
            .into_iter()
            .map(|g| {
                // Merged groups keep the thread of their first allocation, as Memray's do.
                (
                    g.thread,
                    g.address,
                    g.size,
                    g.allocator as u8,
                    g.stack,
                    g.count,
                    g.native_stack,
                )
            })
            .collect())
    }

    /// Every allocation and deallocation event, in order.
    fn all_records(&self, py: Python<'_>) -> PyResult<Vec<RecordTuple>> {
        let path = self.path.clone();
        py.detach(move || {
            let mut c = open_capture(&path)?;
            let mut out = Vec::new();
            c.for_each_chunk(|chunk| {
                out.extend(chunk.events.iter().map(|e| {
                    (
                        e.thread,
                        e.address,
                        e.size,
                        e.allocator as u8,
                        e.stack,
                        1,
                        e.native_stack,
                    )
                }));
                Ok(())
            })
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
            Ok(out)
        })
    }

    /// The frames of a stack, innermost first. Without `max_stacks`, the main thread's frames
    /// that belong to whoever started tracking are left out (Memray's rule).
    #[pyo3(signature = (stack, tid, max_stacks=None))]
    fn stack(&self, stack: u32, tid: u32, max_stacks: Option<usize>) -> Vec<Frame> {
        let defs = &self.analysis.defs;
        let mut frames: Vec<Frame> = defs
            .frames(stack)
            .map(|f| (f.function.to_string(), f.filename.to_string(), f.line))
            .collect();
        match max_stacks {
            Some(n) => frames.truncate(n),
            None => {
                let h = &self.analysis.header;
                if tid == h.main_thread_id {
                    let skip = (h.main_thread_skipped_frames as usize).min(frames.len());
                    frames.truncate(frames.len() - skip);
                }
            }
        }
        frames
    }

    fn thread_name(&self, tid: u32) -> String {
        self.analysis
            .defs
            .thread_name(tid)
            .unwrap_or("")
            .to_string()
    }

    /// (time in ms since the epoch, RSS bytes, heap bytes) at each sample.
    fn memory_snapshots(&self) -> Vec<(u64, u64, u64)> {
        self.analysis
            .snapshots
            .iter()
            .map(|s| (s.time_ms, s.rss, s.heap))
            .collect()
    }
}
