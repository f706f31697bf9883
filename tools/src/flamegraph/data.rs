//! The JSON document behind a flame graph page: interned strings, the call tree in columns,
//! memory samples, source lines, metadata, and (with `--temporal`) the values over time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::Serialize;

use memray_analysis::snapshot::View;
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::Analysis;

use crate::common::estimate::Estimate;
use crate::common::human::datetime_str;
use crate::common::interner::Interner;
use crate::common::view::view_name;

pub const FLAG_UNINTERESTING: u8 = 1;
pub const FLAG_IMPORT: u8 = 2;
pub const FLAG_THREAD: u8 = 4;

#[derive(Serialize, Default)]
pub struct Nodes {
    pub fn_: Vec<u32>,
    pub file: Vec<u32>,
    pub line: Vec<u32>,
    pub value: Vec<u64>,
    pub n: Vec<u64>,
    pub parent: Vec<u32>,
    pub thread: Vec<u32>,
    pub flags: Vec<u8>,
}

#[derive(Serialize)]
pub struct Meta {
    pub title: String,
    pub command_line: String,
    pub pid: u32,
    pub start_time: String,
    pub end_time: String,
    pub duration: String,
    pub peak_memory: u64,
    pub total_allocations: u64,
    pub python_allocator: String,
    pub has_native_traces: bool,
    pub trace_python_allocators: bool,
    pub view_name: String,
    pub split_threads: bool,
    pub threads: Vec<(u32, String)>,
    /// A capture set's processes (left out for one capture): the page's process selector and
    /// its stacked memory chart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<PageProcess>,
    /// `memray-diff --format html`: the base capture the page compares with (its nodes then
    /// have a `base_own` column: each box's own bytes before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<serde_json::Value>,
    /// A sampled capture: the page says its figures are estimates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Estimate>,
}

/// One process of a capture set, as the page shows it.
#[derive(Serialize)]
pub struct PageProcess {
    pub pid: u32,
    pub parent_pid: u32,
    pub command_line: String,
    pub peak_memory: u64,
    pub heap_at_combined_peak: u64,
    pub complete: bool,
    /// Its threads (ids of the nodes' `thread` column).
    pub threads: Vec<u32>,
    /// (RSS, heap) at each of the document's `memory` samples (0, 0 while not running).
    pub memory: Vec<(u64, u64)>,
}

fn page_processes(a: &Analysis) -> Vec<PageProcess> {
    a.processes
        .iter()
        .map(|p| PageProcess {
            pid: p.pid,
            parent_pid: p.parent_pid,
            command_line: p.command_line.clone(),
            peak_memory: p.peak_memory,
            heap_at_combined_peak: p.heap_at_combined_peak,
            complete: p.complete,
            threads: p.threads.clone(),
            memory: a
                .snapshots
                .iter()
                .map(|s| p.sample_at(s.time_ms).map_or((0, 0), |m| (m.rss, m.heap)))
                .collect(),
        })
        .collect()
}

#[derive(Serialize)]
pub struct Document {
    pub meta: Meta,
    pub strings: Vec<String>,
    pub nodes: serde_json::Value,
    pub memory: Vec<(u64, u64, u64)>,
    pub source: BTreeMap<String, String>,
    pub temporal: Option<serde_json::Value>,
}

/// The lines of a source file, if it is a readable regular file of at most 16 MiB (never a
/// FIFO or device, which could block or never end).
fn read_lines(path: &Path) -> Option<Vec<String>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 16 << 20 {
        return None;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    Some(BufReader::new(f).lines().map_while(Result::ok).collect())
}

/// The text of line `line` of `file`, if the file is readable and the line exists. A relative
/// file name (a script run as `python prog.py`) is looked up as Python's `linecache` does: in
/// the current directory, then in the profiled program's `sys.path` (`roots`), whose first
/// entry is the script's directory.
fn source_line(
    cache: &mut FxHashMap<String, Option<Vec<String>>>,
    roots: &[String],
    file: &str,
    line: u32,
) -> Option<String> {
    if file.starts_with('<') || line == 0 {
        return None;
    }
    let lines = cache.entry(file.to_string()).or_insert_with(|| {
        let path = Path::new(file);
        if path.is_absolute() {
            return read_lines(path);
        }
        std::iter::once(PathBuf::from(file))
            .chain(
                roots
                    .iter()
                    .filter(|r| Path::new(r).is_absolute())
                    .map(|r| Path::new(r).join(file)),
            )
            .find_map(|p| read_lines(&p))
    });
    let text = lines.as_ref()?.get(line as usize - 1)?.trim();
    (!text.is_empty()).then(|| text.chars().take(200).collect())
}

/// Builds the document for `tree` (whose node ids `temporal` refers to, if given).
pub fn build(
    a: &Analysis,
    tree: &CallTree,
    opts: TreeOptions,
    view: View,
    temporal: Option<serde_json::Value>,
) -> Document {
    let mut interner: Interner<u32> = Interner::new();
    let mut nodes = Nodes::default();
    let mut files: FxHashMap<String, Option<Vec<String>>> = FxHashMap::default();
    let mut source = BTreeMap::new();
    for n in &tree.nodes {
        nodes.fn_.push(interner.get(&n.function));
        nodes.file.push(interner.get(&n.filename));
        nodes.line.push(n.line);
        nodes.value.push(n.bytes);
        nodes.n.push(n.count);
        nodes.parent.push(n.parent);
        nodes.thread.push(n.thread);
        let is_thread_node = opts.split_threads && n.function.is_empty() && n.thread != 0;
        nodes.flags.push(
            (if n.interesting { 0 } else { FLAG_UNINTERESTING })
                | (if n.import_system { FLAG_IMPORT } else { 0 })
                | (if is_thread_node { FLAG_THREAD } else { 0 }),
        );
        if let std::collections::btree_map::Entry::Vacant(e) =
            source.entry(format!("{}:{}", n.filename, n.line))
        {
            if let Some(text) = source_line(&mut files, &a.header.sys_path, &n.filename, n.line) {
                e.insert(text);
            }
        }
    }
    let h = &a.header;
    let end = a.end_time_ms();
    let mut threads: Vec<(u32, String)> = a
        .threads
        .iter()
        .map(|&t| (t, a.defs.thread_name(t).unwrap_or("").to_string()))
        .collect();
    threads.sort();
    let mut nodes_json = serde_json::to_value(&nodes).expect("plain data");
    // `fn` is a Rust keyword: rename the column the page reads.
    if let Some(obj) = nodes_json.as_object_mut() {
        if let Some(v) = obj.remove("fn_") {
            obj.insert("fn".into(), v);
        }
    }
    Document {
        meta: Meta {
            title: format!("memray flamegraph: {}", view_name(view, temporal.is_some())),
            command_line: h.command_line.clone(),
            pid: h.pid,
            start_time: datetime_str(h.start_time_ms),
            end_time: datetime_str(end),
            duration: format!(
                "{:.3} s",
                end.saturating_sub(h.start_time_ms) as f64 / 1000.0
            ),
            peak_memory: a.peak_memory,
            total_allocations: a.n_allocations,
            python_allocator: h.python_allocator.clone(),
            has_native_traces: h.native_traces,
            trace_python_allocators: h.trace_python_allocators,
            view_name: view_name(view, temporal.is_some()),
            split_threads: opts.split_threads,
            threads,
            processes: page_processes(a),
            diff: None,
            sampling: Estimate::of(h, a.peak_memory),
        },
        strings: interner.into_strings(),
        nodes: nodes_json,
        memory: a
            .snapshots
            .iter()
            .map(|s| (s.time_ms, s.rss, s.heap))
            .collect(),
        source,
        temporal,
    }
}
