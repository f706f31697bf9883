//! The JSON document of a `memray table` page: one row per allocation location of a view
//! (thread, size, allocator, allocation count, location), as Memray's table adds them up.

use crate::common::estimate::Estimate;
use rustc_hash::FxHashMap;
use serde::Serialize;

use memray_analysis::frames::visible_frames;
use memray_analysis::snapshot::Aggregate;
use memray_analysis::Analysis;

#[derive(Serialize)]
pub struct Row {
    pub thread: String,
    pub size: u64,
    pub allocator: &'static str,
    pub n_allocations: u64,
    pub location: String,
}

#[derive(Serialize)]
pub struct Document {
    pub title: String,
    pub command_line: String,
    pub rows: Vec<Row>,
    /// A sampled capture: the page says its figures are estimates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Estimate>,
}

/// Memray's thread label: `0x1 (name)`, `0x1`, or `merged thread`.
pub fn thread_label(a: &Analysis, tid: u32, merged: bool) -> String {
    if merged {
        return "merged thread".into();
    }
    match a.defs.thread_name(tid) {
        Some(name) if !name.is_empty() => format!("{tid:#x} ({name})"),
        _ => format!("{tid:#x}"),
    }
}

/// One row per displayed (thread, allocator, location): groups whose full stacks differ but
/// whose innermost frame is the same are added up, as Memray's table does (the thread is part of
/// the key only when threads are not merged).
pub fn build(a: &Analysis, groups: &[Aggregate], merged: bool, title: String) -> Document {
    let mut rows: Vec<Row> = Vec::new();
    let mut index: FxHashMap<(u32, &'static str, String), usize> = FxHashMap::default();
    for g in groups {
        let location = match visible_frames(a, g.stack, g.native_stack, g.thread).first() {
            Some(f) => format!("{} at {}:{}", f.function, f.filename, f.line),
            None => "???".into(),
        };
        let allocator = g.allocator.name();
        let key = (if merged { 0 } else { g.thread }, allocator, location);
        match index.get(&key) {
            Some(&i) => {
                rows[i].size = rows[i].size.saturating_add(g.size);
                rows[i].n_allocations = rows[i].n_allocations.saturating_add(g.count);
            }
            None => {
                index.insert(key.clone(), rows.len());
                rows.push(Row {
                    thread: thread_label(a, g.thread, merged),
                    size: g.size,
                    allocator,
                    n_allocations: g.count,
                    location: key.2,
                });
            }
        }
    }
    Document {
        title,
        command_line: a.header.command_line.clone(),
        sampling: Estimate::of(&a.header, a.peak_memory),
        rows,
    }
}
