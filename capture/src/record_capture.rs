//! Captures made of records the caller already has, for `memray.reporters`: Memray's
//! reporters render any set of allocation records (`FlameGraphReporter.from_snapshot(records,
//! ...)`), and this package renders with the `memray-*` programs, which read captures. The
//! records are written as an aggregated capture (`FileFormat::AggregatedAllocations`): one
//! location per record, its bytes and count both as the peak's and as the leaks', with the
//! stack the record reports.

use std::fs::File;
use std::io::BufWriter;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;

use memray_format::records::{
    AggregateRecord, AggregateTotals, AllocatorType, CodeDef, FileFormat, Header, HeapSample,
    StackNode, ThreadName,
};
use memray_format::writer::{ChunkFileWriter, Compression, RecordEncoder};

/// (function, file name, line), innermost frame first.
type Frame = (String, String, u32);
/// (thread id, allocator, bytes, allocation count, stack).
type Record = (u32, u8, u64, u64, Vec<Frame>);

/// What the capture's header says about the run (from Memray's `Metadata`), as a dict.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Run {
    pid: u32,
    main_thread_id: u32,
    start_time_ms: u64,
    end_time_ms: u64,
    command_line: String,
    python_allocator: String,
    trace_python_allocators: bool,
    peak_memory: u64,
    total_allocations: u64,
}

/// Writes `records` (with `threads`' names and the memory `snapshots`, as (time in ms, RSS,
/// heap)) as an aggregated capture at `path`.
#[pyfunction]
#[pyo3(signature = (path, run, records, threads, snapshots))]
fn write_records_capture(
    py: Python<'_>,
    path: String,
    run: Run,
    records: Vec<Record>,
    threads: Vec<(u32, String)>,
    snapshots: Vec<(u64, u64, u64)>,
) -> PyResult<()> {
    let v = py.version_info();
    let header = Header {
        pid: run.pid,
        main_thread_id: run.main_thread_id,
        start_time_ms: run.start_time_ms,
        command_line: run.command_line,
        python_version: format!("{}.{}.{}", v.major, v.minor, v.patch),
        python_allocator: run.python_allocator,
        trace_python_allocators: run.trace_python_allocators,
        file_format: FileFormat::AggregatedAllocations,
        ..Header::default()
    };
    let fail = |e: std::io::Error| PyOSError::new_err(format!("could not write {path}: {e}"));
    let file = File::create(&path).map_err(fail)?;
    let mut out =
        ChunkFileWriter::new(BufWriter::new(file), &header, Compression::Zstd(1)).map_err(fail)?;
    let mut enc = RecordEncoder::new(1 << 20);
    let mut spare = Vec::new();
    let mut flush = |enc: &mut RecordEncoder,
                     out: &mut ChunkFileWriter<BufWriter<File>>,
                     force: bool|
     -> std::io::Result<()> {
        if force || enc.is_full() {
            if let Some(chunk) = enc.take_chunk(std::mem::take(&mut spare)) {
                spare = out.write_chunk(chunk)?;
            }
        }
        Ok(())
    };

    for (thread, name) in threads {
        enc.thread_name(&ThreadName { thread, name });
    }
    for (time_ms, rss, heap) in snapshots {
        enc.heap_sample(&HeapSample { time_ms, rss, heap });
        flush(&mut enc, &mut out, false).map_err(fail)?;
    }
    let mut codes: FxHashMap<(String, String), u32> = FxHashMap::default();
    let mut nodes: FxHashMap<(u32, u32, u32), u32> = FxHashMap::default();
    let mut bytes_allocated = 0u64;
    for (thread, allocator, size, count, frames) in records {
        let mut stack = 0;
        for (function, filename, line) in frames.into_iter().rev() {
            let key = (function, filename);
            let code = match codes.get(&key) {
                Some(&id) => id,
                None => {
                    let id = enc.define_code(&CodeDef {
                        function: key.0.clone(),
                        filename: key.1.clone(),
                        first_line: line,
                    });
                    codes.insert(key, id);
                    id
                }
            };
            stack = *nodes.entry((stack, code, line)).or_insert_with(|| {
                enc.define_node(&StackNode {
                    parent: stack,
                    code,
                    line,
                    entry: true,
                })
            });
        }
        enc.aggregate(&AggregateRecord {
            thread,
            allocator: AllocatorType::from_u8(allocator).unwrap_or(AllocatorType::Malloc),
            stack,
            native_stack: 0,
            peak_bytes: size,
            peak_count: count,
            leaked_bytes: size,
            leaked_count: count,
            total_bytes: size,
            total_count: count,
        });
        bytes_allocated += size;
        flush(&mut enc, &mut out, false).map_err(fail)?;
    }
    enc.aggregate_totals(&AggregateTotals {
        peak_memory: run.peak_memory,
        n_allocations: run.total_allocations,
        n_deallocations: 0,
        bytes_allocated,
    });
    flush(&mut enc, &mut out, true).map_err(fail)?;
    let mut trailer = *enc.totals();
    trailer.end_time_ms = run.end_time_ms;
    out.finish(&trailer).map_err(fail)?;
    Ok(())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(write_records_capture, m)?)?;
    Ok(())
}
