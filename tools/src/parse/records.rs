//! The lines of `memray parse`: a dump of a capture, one line per record. Each line is
//! a record kind in capitals followed by `key=value` fields, in the order the records are
//! stored (Memray's `parse` prints its own records the same way).

use std::io::Write;

use anyhow::{Context, Result};

use memray_format::chunk::{decode_records, Record, FLAG_LZ4, FLAG_ZSTD};
use memray_format::file_layout::{FILE_MAGIC, FORMAT_VERSION};
use memray_format::reader::ChunkLoc;
use memray_format::{Capture, FileFormat, Header, Trailer};

use crate::common::input::check_file;

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

fn header_line(h: &Header) -> String {
    format!(
        "HEADER magic={} version={FORMAT_VERSION} python_version={} native_traces={} \
         file_format={} start_time={} pid={} main_tid={} skipped_frames_on_main_tid={} \
         command_line={} python_allocator={} trace_python_allocators={} follow_fork={} \
         memory_interval_ms={} libdest={} site_packages={} sys.path={}",
        String::from_utf8_lossy(&FILE_MAGIC),
        h.python_version,
        h.native_traces,
        match h.file_format {
            FileFormat::AllAllocations => "ALL_ALLOCATIONS",
            FileFormat::AggregatedAllocations => "AGGREGATED_ALLOCATIONS",
        },
        h.start_time_ms,
        h.pid,
        h.main_thread_id,
        h.main_thread_skipped_frames,
        h.command_line,
        h.python_allocator,
        h.trace_python_allocators,
        h.follow_fork,
        h.memory_interval_ms,
        h.stdlib_dir,
        list(&h.site_packages),
        list(&h.sys_path),
    )
}

fn chunk_line(loc: &ChunkLoc) -> String {
    let h = &loc.header;
    let compression = match h.flags {
        FLAG_LZ4 => "lz4",
        FLAG_ZSTD => "zstd",
        _ => "none",
    };
    format!(
        "CHUNK offset={} compression={compression} stored_len={} raw_len={} n_events={} \
         code_base={} node_base={} native_base={}",
        loc.offset, h.stored_len, h.raw_len, h.n_events, h.code_base, h.node_base, h.native_base
    )
}

fn write_record(out: &mut dyn Write, r: &Record) -> std::io::Result<()> {
    match r {
        Record::Thread(tid) => writeln!(out, "CONTEXT_SWITCH tid={tid}"),
        Record::ThreadName(t) => writeln!(out, "THREAD tid={} name={}", t.thread, t.name),
        Record::Code(id, c) => writeln!(
            out,
            "CODE_OBJECT code_id={id} function_name={} filename={} firstlineno={}",
            c.function, c.filename, c.first_line
        ),
        Record::Node(id, n) => writeln!(
            out,
            "FRAME frame_id={id} parent={} code_id={} lineno={}",
            n.parent, n.code, n.line
        ),
        Record::NativeNode(id, n) => writeln!(
            out,
            "NATIVE_FRAME_ID index={id} parent={} ip={:#x}",
            n.parent, n.ip
        ),
        Record::Memory(m) => writeln!(out, "MEMORY_RECORD time={} memory={}", m.time_ms, m.rss),
        Record::Image(i) => {
            let segments: Vec<String> = i
                .segments
                .iter()
                .map(|(vaddr, size)| format!("{vaddr:#x}+{size:#x}"))
                .collect();
            writeln!(
                out,
                "IMAGE filename={} addr={:#x} segments={}",
                i.path,
                i.load_address,
                list(&segments)
            )
        }
        Record::ImagesReset => writeln!(out, "IMAGES_RESET"),
        Record::Event(e) => writeln!(
            out,
            "ALLOCATION tid={} address={:#x} size={} allocator={} stack_id={} native_frame_id={}",
            e.thread,
            e.address,
            e.size,
            e.allocator.name().to_lowercase(),
            e.stack,
            e.native_stack
        ),
        Record::HeapSample(m) => writeln!(
            out,
            "MEMORY_SNAPSHOT time={} rss={} heap={}",
            m.time_ms, m.rss, m.heap
        ),
        Record::Aggregate(a) => writeln!(
            out,
            "AGGREGATED_ALLOCATION tid={} allocator={} stack_id={} native_frame_id={} \
             n_allocations_in_high_water_mark={} bytes_in_high_water_mark={} \
             n_allocations_leaked={} bytes_leaked={} n_allocations={} bytes_allocated={}",
            a.thread,
            a.allocator.name().to_lowercase(),
            a.stack,
            a.native_stack,
            a.peak_count,
            a.peak_bytes,
            a.leaked_count,
            a.leaked_bytes,
            a.total_count,
            a.total_bytes
        ),
        Record::AggregateTotals(t) => writeln!(
            out,
            "AGGREGATED_TOTALS peak_memory={} n_allocations={} n_deallocations={} \
             bytes_allocated={}",
            t.peak_memory, t.n_allocations, t.n_deallocations, t.bytes_allocated
        ),
    }
}

fn trailer_line(t: &Option<Trailer>) -> String {
    let Some(t) = t else {
        return "TRAILER missing (the capture was cut short)".to_string();
    };
    let Trailer {
        end_time_ms: end,
        n_allocations: allocs,
        n_deallocations: deallocs,
        n_codes: codes,
        n_nodes: frames,
        n_native_nodes: native,
        n_memory_samples: samples,
    } = t;
    format!(
        "TRAILER end_time={end} n_allocations={allocs} n_deallocations={deallocs} \
         n_codes={codes} n_frames={frames} n_native_frames={native} n_memory_records={samples}"
    )
}

/// Dumps the capture at `path` (or `-`) to `out`.
pub fn dump(path: &str, out: &mut dyn Write) -> Result<()> {
    let fail = || format!("Failed to parse allocation records in {path}");
    check_file(path).with_context(fail)?;
    let mut capture = Capture::open(path).with_context(fail)?;
    writeln!(out, "{}", header_line(capture.header()))?;
    let mut io_error: Option<std::io::Error> = None;
    let trailer = capture
        .for_each_payload(|loc, payload| {
            let mut failed = |e: std::io::Error| {
                if io_error.is_none() {
                    io_error = Some(e);
                }
            };
            if let Err(e) = writeln!(out, "{}", chunk_line(loc)) {
                failed(e);
            }
            decode_records(&loc.header, payload, loc.offset, |r| {
                if let Err(e) = write_record(out, &r) {
                    failed(e);
                }
            })
        })
        .with_context(fail);
    if let Some(e) = io_error {
        return Err(e.into());
    }
    let trailer = trailer?;
    writeln!(out, "{}", trailer_line(&trailer))?;
    Ok(())
}
