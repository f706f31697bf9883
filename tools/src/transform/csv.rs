//! Memray's `csv` transform: one row per group, `allocator,num_allocations,size,tid,
//! thread_name,stack_trace`, the stack as `function;file;line` joined by `|`, innermost first.
//! Written as Python's `csv.writer` does (minimal quoting, `\r\n` line ends).

use std::io::Write;

use anyhow::Result;

use super::Export;

/// `0x2 (worker)`, or `0x1` when the thread has no name (Memray's `format_thread_name`).
pub fn thread_label(tid: u32, name: &str) -> String {
    if name.is_empty() {
        format!("{tid:#x}")
    } else {
        format!("{tid:#x} ({name})")
    }
}

pub fn render(export: &Export, out: &mut dyn Write) -> Result<()> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record([
        "allocator",
        "num_allocations",
        "size",
        "tid",
        "thread_name",
        "stack_trace",
    ])?;
    for g in export.groups {
        let stack = export
            .frames(g)
            .iter()
            .map(|f| format!("{};{};{}", f.function, f.filename, f.line))
            .collect::<Vec<_>>()
            .join("|");
        w.write_record([
            g.allocator.name(),
            &g.count.to_string(),
            &g.size.to_string(),
            &g.thread.to_string(),
            &thread_label(g.thread, export.thread_name(g.thread)),
            &stack,
        ])?;
    }
    w.flush()?;
    Ok(())
}
