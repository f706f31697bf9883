//! The figures of `memray stats`: Memray's terminal report and its `--json` document, over
//! `memray_analysis::stats`.

use serde::Serialize;

use memray_analysis::stats::{self, Stats};
use memray_analysis::{Analysis, ReplayOptions};

use crate::common::estimate::Estimate;
use crate::common::human::{datetime_str, size_fmt};
use crate::common::terminal::for_terminal;

/// The options the stats read a capture with.
const OPTIONS: ReplayOptions = ReplayOptions {
    size_counts: true,
    temporary_threshold: None,
    temporal_peaks: false,
    lifetimes: false,
};

/// Reads the capture (or capture set) once and computes the stats with the top `n` entries.
pub fn load(paths: &[String], n: usize, pid: Option<u32>) -> anyhow::Result<(Analysis, Stats)> {
    let analysis = crate::common::input::open_selected(paths, OPTIONS, pid)?;
    crate::common::input::refuse_aggregated(&analysis, "compute statistics using")?;
    let stats = stats::compute(&analysis, n);
    Ok((analysis, stats))
}

/// `--by-process`: each process of a capture set alone, with its heading, and its stats.
pub fn load_each(
    paths: &[String],
    n: usize,
) -> anyhow::Result<Vec<(Option<String>, Analysis, Stats)>> {
    crate::common::input::open_each(paths, OPTIONS)?
        .into_iter()
        .map(|(heading, a)| {
            crate::common::input::refuse_aggregated(&a, "compute statistics using")?;
            let stats = stats::compute(&a, n);
            Ok((heading, a, stats))
        })
        .collect()
}

#[derive(Serialize)]
struct JsonBin {
    min_bytes: u64,
    max_bytes: u64,
    count: u64,
}

#[derive(Serialize)]
struct JsonLocSize {
    location: String,
    size: u64,
}

#[derive(Serialize)]
struct JsonLocCount {
    location: String,
    count: u64,
}

#[derive(Serialize)]
struct JsonModule {
    module: String,
    num_allocations: u64,
    total_bytes: u64,
}

#[derive(Serialize)]
pub struct JsonMetadata {
    pub start_time: String,
    pub end_time: String,
    pub total_allocations: u64,
    pub total_frames: u64,
    pub peak_memory: u64,
    pub command_line: String,
    pub pid: u32,
    pub main_thread_id: u32,
    pub python_allocator: String,
    pub has_native_traces: bool,
    pub trace_python_allocators: bool,
    pub file_format: u8,
    /// A capture set: the sum of each process's own peak (`peak_memory` is the highest sum of
    /// their heaps at one moment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum_of_peaks: Option<u64>,
    /// A capture set: its processes, in order of start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<JsonProcess>,
    /// A sampled capture: its rate and the peak's expected relative error (the byte figures
    /// are estimates).
    #[serde(flatten)]
    pub sampling: Option<Estimate>,
}

#[derive(Serialize)]
pub struct JsonProcess {
    pub pid: u32,
    pub parent_pid: u32,
    pub path: String,
    pub command_line: String,
    pub start_time: String,
    pub end_time: String,
    pub peak_memory: u64,
    pub heap_at_combined_peak: u64,
    pub total_allocations: u64,
    pub total_bytes_allocated: u64,
    pub leaked_bytes: u64,
    /// False when the capture was cut short (the process was killed).
    pub complete: bool,
}

/// A JSON object whose keys keep the given order (`serde_json::Map` sorts them, since the
/// `preserve_order` feature is off), for the count-descending allocator distribution.
struct OrderedMap(Vec<(&'static str, u64)>);

impl Serialize for OrderedMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct JsonStats {
    total_num_allocations: u64,
    total_bytes_allocated: u64,
    allocation_size_histogram: Vec<JsonBin>,
    allocator_type_distribution: OrderedMap,
    top_allocations_by_size: Vec<JsonLocSize>,
    top_allocations_by_count: Vec<JsonLocCount>,
    top_modules_by_allocation_size: Vec<JsonModule>,
    top_modules_by_allocation_count: Vec<JsonModule>,
    metadata: JsonMetadata,
}

/// Memray's `Metadata`, as the stats document and the Python API present it.
pub fn metadata(a: &Analysis) -> JsonMetadata {
    let h = &a.header;
    let end = a.end_time_ms();
    JsonMetadata {
        start_time: datetime_str(h.start_time_ms),
        end_time: datetime_str(end),
        total_allocations: a.n_events,
        total_frames: a.defs.codes.len() as u64,
        peak_memory: a.peak_memory,
        command_line: h.command_line.clone(),
        pid: h.pid,
        main_thread_id: h.main_thread_id,
        python_allocator: h.python_allocator.clone(),
        has_native_traces: h.native_traces,
        trace_python_allocators: h.trace_python_allocators,
        file_format: h.file_format as u8,
        sum_of_peaks: (!a.processes.is_empty()).then(|| {
            a.processes
                .iter()
                .fold(0u64, |s, p| s.saturating_add(p.peak_memory))
        }),
        processes: a
            .processes
            .iter()
            .map(|p| JsonProcess {
                pid: p.pid,
                parent_pid: p.parent_pid,
                path: p.path.clone(),
                command_line: p.command_line.clone(),
                start_time: datetime_str(p.start_time_ms),
                end_time: datetime_str(p.end_time_ms),
                peak_memory: p.peak_memory,
                heap_at_combined_peak: p.heap_at_combined_peak,
                total_allocations: p.n_allocations,
                total_bytes_allocated: p.bytes_allocated,
                leaked_bytes: p.leaked_bytes,
                complete: p.complete,
            })
            .collect(),
        sampling: Estimate::of(h, a.peak_memory),
    }
}

fn modules(v: &[stats::Ranked]) -> Vec<JsonModule> {
    v.iter()
        .map(|m| JsonModule {
            module: m.name.clone(),
            num_allocations: m.count,
            total_bytes: m.bytes,
        })
        .collect()
}

/// The `--json` document, key for key as Memray writes it (no trailing newline).
pub fn render_json(a: &Analysis, s: &Stats) -> String {
    let n_bins = s.histogram.len();
    let doc = JsonStats {
        total_num_allocations: s.total_num_allocations,
        total_bytes_allocated: s.total_bytes_allocated,
        allocation_size_histogram: s
            .histogram
            .iter()
            .enumerate()
            .map(|(i, b)| JsonBin {
                min_bytes: b.min_bytes,
                max_bytes: if i + 1 == n_bins {
                    b.upper
                } else {
                    b.upper.saturating_sub(1)
                },
                count: b.count,
            })
            .collect(),
        allocator_type_distribution: OrderedMap(
            s.allocator_distribution
                .iter()
                .map(|(k, v)| (k.name(), *v))
                .collect(),
        ),
        top_allocations_by_size: s
            .top_by_size
            .iter()
            .map(|r| JsonLocSize {
                location: r.name.clone(),
                size: r.bytes,
            })
            .collect(),
        top_allocations_by_count: s
            .top_by_count
            .iter()
            .map(|r| JsonLocCount {
                location: r.name.clone(),
                count: r.count,
            })
            .collect(),
        top_modules_by_allocation_size: modules(&s.modules_by_size),
        top_modules_by_allocation_count: modules(&s.modules_by_count),
        metadata: metadata(a),
    };
    crate::common::json::to_python_json(&doc)
}

fn draw_histogram(s: &Stats) -> String {
    const SCALE: f64 = 25.0;
    let max_bin = s.histogram.iter().map(|b| b.count).max().unwrap_or(0);
    let freq_w = s
        .histogram
        .iter()
        .map(|b| b.count.to_string().len())
        .max()
        .unwrap_or(1);
    let width = 2 + 9 + 2 + freq_w + 1 + 25;
    let dashes = "-".repeat(width);
    let mut lines = vec![
        format!("min: {}", size_fmt(s.min_size.unwrap_or(0))),
        dashes.clone(),
    ];
    let n = s.histogram.len();
    for (i, b) in s.histogram.iter().enumerate() {
        let op = if i + 1 == n { "<=" } else { "< " };
        let bar_len = if max_bin == 0 {
            0
        } else {
            (b.count as f64 / max_bin as f64 * SCALE).ceil() as usize
        };
        lines.push(format!(
            "{op}{:<9}: {:>freq_w$} {}",
            size_fmt(b.upper),
            b.count,
            "\u{2587}".repeat(bar_len)
        ));
    }
    lines.push(dashes);
    lines.push(format!("max: {}", size_fmt(s.max_size.unwrap_or(0))));
    lines.join("\n\t")
}

/// The terminal report. `bold` wraps headings in ANSI bold (Memray does so on a terminal).
pub fn render_text(a: &Analysis, s: &Stats, n: usize, bold: bool) -> String {
    let heading = |t: &str| {
        if bold {
            format!("\x1b[1m{t}\x1b[0m")
        } else {
            t.to_string()
        }
    };
    let mut out = String::new();
    let mut section = |title: String, body: Vec<String>| {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&heading(&title));
        out.push('\n');
        for line in body {
            out.push('\t');
            out.push_str(&line);
            out.push('\n');
        }
    };
    if let Some(e) = Estimate::of(&a.header, a.peak_memory) {
        section("🎲 Sampled capture:".into(), vec![e.line()]);
    }
    section(
        "📏 Total allocations:".into(),
        vec![s.total_num_allocations.to_string()],
    );
    section(
        "📦 Total memory allocated:".into(),
        vec![size_fmt(s.total_bytes_allocated)],
    );
    section(
        "📈 Peak memory usage:".into(),
        vec![size_fmt(a.peak_memory)],
    );
    if !a.processes.is_empty() {
        let sum = a
            .processes
            .iter()
            .fold(0u64, |s, p| s.saturating_add(p.peak_memory));
        let mut lines = vec![format!(
            "{} processes; the peak is the highest sum of their heaps at one moment \
             (the sum of their own peaks: {})",
            a.processes.len(),
            size_fmt(sum)
        )];
        lines.extend(a.processes.iter().map(|p| {
            format!(
                "pid {} (parent {}): peak {}, {} at the combined peak, {} allocations{} [{}]",
                p.pid,
                p.parent_pid,
                size_fmt(p.peak_memory),
                size_fmt(p.heap_at_combined_peak),
                p.n_allocations,
                if p.complete { "" } else { ", cut short" },
                p.path
            )
        }));
        section("🌳 Processes:".into(), lines);
    }
    let hist = if s.histogram.is_empty() {
        "<no data for histogram>".to_string()
    } else {
        draw_histogram(s)
    };
    section("📊 Histogram of allocation size:".into(), vec![hist]);
    section(
        "📂 Allocator type distribution:".into(),
        s.allocator_distribution
            .iter()
            .map(|(k, v)| format!(" {}: {v}", k.name()))
            .collect(),
    );
    section(
        format!("🥇 Top {n} largest allocating locations (by size):"),
        s.top_by_size
            .iter()
            .map(|r| format!("- {} -> {}", for_terminal(&r.name), size_fmt(r.bytes)))
            .collect(),
    );
    section(
        format!("🥇 Top {n} largest allocating locations (by number of allocations):"),
        s.top_by_count
            .iter()
            .map(|r| format!("- {} -> {}", for_terminal(&r.name), r.count))
            .collect(),
    );
    let module_line = |m: &stats::Ranked| {
        format!(
            "- {}: {} total | {} allocations",
            for_terminal(&m.name),
            size_fmt(m.bytes),
            m.count
        )
    };
    if !s.modules_by_size.is_empty() {
        section(
            format!("🥇 Top {n} allocating modules (by size):"),
            s.modules_by_size.iter().map(module_line).collect(),
        );
    }
    if !s.modules_by_count.is_empty() {
        section(
            format!("🥇 Top {n} allocating modules (by number of allocations):"),
            s.modules_by_count.iter().map(module_line).collect(),
        );
    }
    out
}
