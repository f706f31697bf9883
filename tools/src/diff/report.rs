//! What `memray-diff` shows: the terminal report (totals before, after and their change, then
//! the locations that grew and shrank most) and the JSON document (schema `memray-diff/1`,
//! documented in the README).

use serde::Serialize;

use memray_analysis::diff::{Diff, Match, Measure, Row, Totals};
use memray_analysis::Analysis;

use super::gate::{change_fmt, Failure};
use crate::common::human::size_fmt;
use crate::common::terminal::for_terminal;

/// A location as the report names it: `function at file:line`, `function at file`, or the
/// function alone.
pub fn place(r: &Row) -> String {
    match (r.file.is_empty(), r.line) {
        (true, _) => r.function.clone(),
        (false, 0) => format!("{} at {}", r.function, r.file),
        (false, line) => format!("{} at {}:{line}", r.function, r.file),
    }
}

fn measure_text(m: Measure) -> &'static str {
    match m {
        Measure::Peak => "memory live at the high-water mark",
        Measure::Leaks => "memory leaked (still allocated at the end)",
        Measure::Temporary => "temporary allocations",
        Measure::Allocated => "everything allocated",
    }
}

fn match_text(m: Match) -> &'static str {
    match m {
        Match::File => "function and file",
        Match::Line => "function, file and line",
        Match::Function => "function",
    }
}

pub fn match_name(m: Match) -> &'static str {
    match m {
        Match::File => "file",
        Match::Line => "line",
        Match::Function => "function",
    }
}

/// What the report says about a capture: its path, command line and interpreter.
fn about(path: &str, a: &Analysis) -> String {
    let h = &a.header;
    let mut kind = Vec::new();
    if h.native_traces {
        kind.push("native");
    }
    if h.trace_python_allocators {
        kind.push("Python allocators traced");
    }
    if h.file_format == memray_format::FileFormat::AggregatedAllocations {
        kind.push("aggregated");
    }
    if !a.processes.is_empty() {
        kind.push("capture set");
    }
    let kind = if kind.is_empty() {
        String::new()
    } else {
        format!(", {}", kind.join(", "))
    };
    format!(
        "{path} ({}; CPython {}{kind})",
        for_terminal(&h.command_line),
        h.python_version
    )
}

/// Notes on captures that differ in kind (the figures are still compared).
pub fn caveats(base: &Analysis, new: &Analysis) -> Vec<String> {
    let (b, n) = (&base.header, &new.header);
    let mut notes = Vec::new();
    if b.python_version != n.python_version {
        notes.push(format!(
            "the captures come from different Pythons ({} and {}): the interpreter's own \
             allocations differ as well",
            b.python_version, n.python_version
        ));
    }
    if b.native_traces != n.native_traces {
        notes.push(
            "one capture has native stacks and the other not: locations of the native one \
             are native frames, which the other does not have"
                .into(),
        );
    }
    if b.trace_python_allocators != n.trace_python_allocators {
        notes.push(
            "only one capture traced the Python allocators: its small objects are counted, \
             the other's are not"
                .into(),
        );
    }
    if b.file_format != n.file_format {
        notes.push(
            "one capture is pre-aggregated (--aggregate): compared on the peak and leaks it \
             keeps per location; its totals of allocations are zero"
                .into(),
        );
    }
    notes
}

fn total_rows(d: &Diff) -> Vec<(&'static str, u64, u64, bool)> {
    let (b, n) = (&d.base, &d.new);
    vec![
        ("Peak memory", b.peak_memory, n.peak_memory, true),
        ("Leaked memory", b.leaked_bytes, n.leaked_bytes, true),
        (
            "Total allocated",
            b.total_bytes_allocated,
            n.total_bytes_allocated,
            true,
        ),
        (
            "Allocations",
            b.total_allocations,
            n.total_allocations,
            false,
        ),
    ]
}

fn count_change(base: u64, new: u64) -> String {
    let change = i128::from(new) - i128::from(base);
    if change >= 0 {
        format!("+{change}")
    } else {
        change.to_string()
    }
}

/// The terminal report.
#[allow(clippy::too_many_arguments)]
pub fn render_text(
    d: &Diff,
    base_path: &str,
    base: &Analysis,
    new_path: &str,
    new: &Analysis,
    top: usize,
    failures: &[Failure],
) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "Comparing {}, locations matched by {}",
        measure_text(d.measure),
        match_text(d.matching)
    ));
    line(format!("  before: {}", about(base_path, base)));
    line(format!("  after:  {}", about(new_path, new)));
    for note in caveats(base, new) {
        line(format!("  note: {note}"));
    }
    line(String::new());
    line(format!(
        "{:<18} {:>12} {:>12}   {}",
        "", "Before", "After", "Change"
    ));
    for (name, b, n, bytes) in total_rows(d) {
        if bytes {
            line(format!(
                "{name:<18} {:>12} {:>12}   {}",
                size_fmt(b),
                size_fmt(n),
                change_fmt(b, n)
            ));
        } else {
            line(format!(
                "{name:<18} {b:>12} {n:>12}   {}",
                count_change(b, n)
            ));
        }
    }
    let (mb, mn) = (d.base.measured, d.new.measured);
    line(format!(
        "{:<18} {:>12} {:>12}   {}  ({} -> {} allocations)",
        format!("Compared ({})", d.measure.name()),
        size_fmt(mb.bytes),
        size_fmt(mn.bytes),
        change_fmt(mb.bytes, mn.bytes),
        mb.count,
        mn.count
    ));
    let grew: Vec<&Row> = d
        .rows
        .iter()
        .filter(|r| r.change() > 0 || (r.change() == 0 && r.count_change() > 0))
        .take(top)
        .collect();
    let shrank: Vec<&Row> = d
        .rows
        .iter()
        .rev()
        .filter(|r| r.change() < 0 || (r.change() == 0 && r.count_change() < 0))
        .take(top)
        .collect();
    let same = d
        .rows
        .iter()
        .filter(|r| r.change() == 0 && r.count_change() == 0)
        .count();
    for (title, rows) in [("grew", grew), ("shrank", shrank)] {
        line(String::new());
        if rows.is_empty() {
            line(format!("No location {title}."));
            continue;
        }
        line(format!("Top {} locations that {title}:", rows.len()));
        for r in rows {
            line(format!(
                "  {:<26} {}  ({} -> {}, {} -> {} allocations)",
                change_fmt(r.base.bytes, r.new.bytes),
                for_terminal(&place(r)),
                size_fmt(r.base.bytes),
                size_fmt(r.new.bytes),
                r.base.count,
                r.new.count
            ));
        }
    }
    line(String::new());
    line(format!(
        "{} locations compared, {same} unchanged.",
        d.rows.len()
    ));
    for f in failures {
        line(format!("FAILED: {}", for_terminal(&f.message)));
    }
    out
}

#[derive(Serialize)]
struct JsonTotals {
    peak_memory: u64,
    leaked_bytes: u64,
    total_bytes_allocated: u64,
    total_allocations: u64,
    compared_bytes: u64,
    compared_count: u64,
}

impl From<&Totals> for JsonTotals {
    fn from(t: &Totals) -> Self {
        JsonTotals {
            peak_memory: t.peak_memory,
            leaked_bytes: t.leaked_bytes,
            total_bytes_allocated: t.total_bytes_allocated,
            total_allocations: t.total_allocations,
            compared_bytes: t.measured.bytes,
            compared_count: t.measured.count,
        }
    }
}

#[derive(Serialize)]
struct JsonChange {
    peak_memory: i128,
    leaked_bytes: i128,
    total_bytes_allocated: i128,
    total_allocations: i128,
    compared_bytes: i128,
    compared_count: i128,
}

#[derive(Serialize)]
struct JsonCapture {
    path: String,
    command_line: String,
    pid: u32,
    python_version: String,
    native_traces: bool,
    trace_python_allocators: bool,
    aggregated: bool,
    processes: usize,
    totals: JsonTotals,
}

#[derive(Serialize)]
struct JsonLocation {
    function: String,
    file: Option<String>,
    line: Option<u32>,
    status: &'static str,
    base_bytes: u64,
    new_bytes: u64,
    change_bytes: i128,
    base_count: u64,
    new_count: u64,
    change_count: i128,
}

#[derive(Serialize)]
struct JsonDiff<'a> {
    schema: &'static str,
    measure: &'static str,
    #[serde(rename = "match")]
    matching: &'static str,
    base: JsonCapture,
    new: JsonCapture,
    change: JsonChange,
    notes: Vec<String>,
    locations: Vec<JsonLocation>,
    failures: &'a [Failure],
}

fn capture_json(path: &str, a: &Analysis, t: &Totals) -> JsonCapture {
    let h = &a.header;
    JsonCapture {
        path: path.to_string(),
        command_line: h.command_line.clone(),
        pid: h.pid,
        python_version: h.python_version.clone(),
        native_traces: h.native_traces,
        trace_python_allocators: h.trace_python_allocators,
        aggregated: h.file_format == memray_format::FileFormat::AggregatedAllocations,
        processes: a.processes.len().max(1),
        totals: t.into(),
    }
}

fn status(r: &Row) -> &'static str {
    match (
        r.base.count == 0 && r.base.bytes == 0,
        r.new.count == 0 && r.new.bytes == 0,
    ) {
        (true, _) => "new",
        (_, true) => "gone",
        _ if r.change() > 0 => "grew",
        _ if r.change() < 0 => "shrank",
        _ => "same",
    }
}

/// The JSON document.
pub fn render_json(
    d: &Diff,
    base_path: &str,
    base: &Analysis,
    new_path: &str,
    new: &Analysis,
    failures: &[Failure],
) -> String {
    let delta = |b: u64, n: u64| i128::from(n) - i128::from(b);
    let (b, n) = (&d.base, &d.new);
    let doc = JsonDiff {
        schema: "memray-diff/1",
        measure: d.measure.name(),
        matching: match_name(d.matching),
        base: capture_json(base_path, base, b),
        new: capture_json(new_path, new, n),
        change: JsonChange {
            peak_memory: delta(b.peak_memory, n.peak_memory),
            leaked_bytes: delta(b.leaked_bytes, n.leaked_bytes),
            total_bytes_allocated: delta(b.total_bytes_allocated, n.total_bytes_allocated),
            total_allocations: delta(b.total_allocations, n.total_allocations),
            compared_bytes: delta(b.measured.bytes, n.measured.bytes),
            compared_count: delta(b.measured.count, n.measured.count),
        },
        notes: caveats(base, new),
        locations: d
            .rows
            .iter()
            .map(|r| JsonLocation {
                function: r.function.clone(),
                file: (!r.file.is_empty()).then(|| r.file.clone()),
                line: (d.matching == Match::Line).then_some(r.line),
                status: status(r),
                base_bytes: r.base.bytes,
                new_bytes: r.new.bytes,
                change_bytes: r.change(),
                base_count: r.base.count,
                new_count: r.new.count,
                change_count: r.count_change(),
            })
            .collect(),
        failures,
    };
    serde_json::to_string_pretty(&doc).expect("plain data")
}
