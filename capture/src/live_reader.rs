//! The Rust side of `memray.SocketReader`: connects to a tracker streaming on the loopback
//! interface and reads its capture on a background thread with the shared live state of the
//! format crate (the same code `memray-live` shows), handing Python plain tuples and dicts.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use memray_analysis::live::{connect_loopback, Live};

use crate::reader::{group_tuple, python_stack, Frame, RecordTuple};

#[pyclass(name = "LiveReader", module = "memray._memray", frozen)]
pub struct LiveReader {
    live: Mutex<Live>,
}

impl LiveReader {
    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl LiveReader {
    /// Connects to `port` on the loopback interface, retrying until a tracker listens there
    /// (Ctrl-C interrupts the wait), and reads the capture header.
    #[new]
    fn new(py: Python<'_>, port: u16) -> PyResult<Self> {
        let stream = loop {
            match py.detach(|| connect_loopback(port)) {
                Ok(s) => break s,
                Err(_) => {
                    py.detach(|| std::thread::sleep(Duration::from_millis(100)));
                    py.check_signals()?;
                }
            }
        };
        let live = py
            .detach(|| Live::start(stream))
            .map_err(|e| PyOSError::new_err(format!("Could not read from port {port}: {e}")))?;
        Ok(LiveReader {
            live: Mutex::new(live),
        })
    }

    /// The capture header's fields Memray's `SocketReader` exposes (and a few more).
    fn header<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let live = self.live();
        let h = &live.header;
        let d = PyDict::new(py);
        d.set_item("pid", h.pid)?;
        d.set_item("command_line", &h.command_line)?;
        d.set_item("native_traces", h.native_traces)?;
        d.set_item("main_thread_id", h.main_thread_id)?;
        d.set_item("start_time_ms", h.start_time_ms)?;
        d.set_item("python_allocator", &h.python_allocator)?;
        d.set_item("trace_python_allocators", h.trace_python_allocators)?;
        Ok(d)
    }

    fn is_active(&self) -> bool {
        self.live().is_active()
    }

    /// What is live now, grouped by stack (and thread unless merged).
    fn snapshot(&self, py: Python<'_>, merge_threads: bool) -> Vec<RecordTuple> {
        py.detach(|| {
            let live = self.live();
            let data = live.lock();
            data.snapshot(merge_threads)
                .iter()
                .map(group_tuple)
                .collect()
        })
    }

    /// The frames of a stack, innermost first, with `CaptureReader.stack`'s rules.
    #[pyo3(signature = (stack, tid, max_stacks=None, skip_main=true))]
    fn stack(
        &self,
        stack: u32,
        tid: u32,
        max_stacks: Option<usize>,
        skip_main: bool,
    ) -> Vec<Frame> {
        let live = self.live();
        let data = live.lock();
        python_stack(&data.defs, &data.header, stack, tid, max_stacks, skip_main)
    }

    fn thread_name(&self, tid: u32) -> String {
        let live = self.live();
        let data = live.lock();
        data.thread_name(tid).unwrap_or("").to_string()
    }

    /// Disconnects (the tracked program stops tracking and goes on); what was read stays.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.live().close());
    }
}
