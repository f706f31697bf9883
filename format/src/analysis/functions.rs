//! Memory by function (what `memray-summary` shows): for every function on the stacks of a
//! view, the bytes allocated by it directly ("own") and by it and everything it called
//! ("total", counted once per stack even through recursion).

use rustc_hash::{FxHashMap, FxHashSet};

use super::frames::visible_frames;
use super::replay::Analysis;
use super::snapshot::Aggregate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRow {
    pub function: String,
    pub filename: String,
    pub own_bytes: u64,
    pub total_bytes: u64,
    pub count: u64,
}

/// Rows in order of first appearance. Like Memray, groups are taken in order until
/// `coverage` (a fraction of the view's bytes) is reached; stacks without Python frames are
/// reported under `???`.
pub fn by_function(a: &Analysis, groups: &[Aggregate], coverage: f64) -> Vec<FunctionRow> {
    let total: u64 = groups.iter().map(|g| g.size).sum();
    let limit = coverage * total as f64;
    let mut index: FxHashMap<(String, String), usize> = FxHashMap::default();
    let mut rows: Vec<FunctionRow> = Vec::new();
    let mut row = |rows: &mut Vec<FunctionRow>, function: &str, filename: &str| -> usize {
        *index
            .entry((function.to_string(), filename.to_string()))
            .or_insert_with(|| {
                rows.push(FunctionRow {
                    function: function.to_string(),
                    filename: filename.to_string(),
                    own_bytes: 0,
                    total_bytes: 0,
                    count: 0,
                });
                rows.len() - 1
            })
    };
    let mut covered = 0u64;
    for g in groups {
        if covered as f64 >= limit && total > 0 {
            break;
        }
        covered += g.size;
        let frames = visible_frames(a, g.stack, g.thread);
        if frames.is_empty() {
            let i = row(&mut rows, "???", "???");
            rows[i].own_bytes += g.size;
            rows[i].total_bytes += g.size;
            rows[i].count += g.count;
            continue;
        }
        let mut seen: FxHashSet<usize> = FxHashSet::default();
        for (depth, f) in frames.iter().enumerate() {
            let i = row(&mut rows, f.function, f.filename);
            if !seen.insert(i) {
                continue;
            }
            if depth == 0 {
                rows[i].own_bytes += g.size;
            }
            rows[i].total_bytes += g.size;
            rows[i].count += g.count;
        }
    }
    rows
}
