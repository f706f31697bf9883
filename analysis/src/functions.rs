//! Memory by function (what `memray-summary` shows): for every function on the stacks of a
//! view, the bytes allocated by it directly ("own") and by it and everything it called
//! ("total", counted once per stack even through recursion).

use rustc_hash::{FxHashMap, FxHashSet};

use super::definitions::Definitions;
use super::frames::{is_irrelevant, visible_frames_in};
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
    by_function_in(
        &a.defs,
        a.header.main_thread_id,
        a.header.main_thread_skipped_frames,
        groups,
        coverage,
        false,
    )
    .into_iter()
    .map(|(row, _)| row)
    .collect()
}

/// [`by_function`] over a capture's dictionaries alone (a capture still being read, in live
/// mode). Each row comes with its hottest line: the line of the function under which most of
/// its total bytes were allocated (0 for `???`). `hide_irrelevant` leaves out the rows of
/// frames nobody profiles for (`runpy`'s, the profiler's own; see
/// [`super::frames::is_irrelevant`]); the other rows keep their figures.
pub fn by_function_in(
    defs: &Definitions,
    main_thread: u32,
    skipped: u32,
    groups: &[Aggregate],
    coverage: f64,
    hide_irrelevant: bool,
) -> Vec<(FunctionRow, u32)> {
    // Exact sums (only compared), so that sizes adding up past 2^64 still cover in order.
    let total: u128 = groups.iter().map(|g| u128::from(g.size)).sum();
    let limit = coverage * total as f64;
    let mut index: FxHashMap<(String, String), usize> = FxHashMap::default();
    let mut rows: Vec<FunctionRow> = Vec::new();
    // Per row: bytes by line.
    let mut lines: Vec<FxHashMap<u32, u64>> = Vec::new();
    let mut row = |rows: &mut Vec<FunctionRow>,
                   lines: &mut Vec<FxHashMap<u32, u64>>,
                   function: &str,
                   filename: &str|
     -> usize {
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
                lines.push(FxHashMap::default());
                rows.len() - 1
            })
    };
    let mut covered = 0u128;
    for g in groups {
        if covered as f64 >= limit && total > 0 {
            break;
        }
        covered += u128::from(g.size);
        let frames = visible_frames_in(
            defs,
            main_thread,
            skipped,
            g.stack,
            g.native_stack,
            g.thread,
        );
        if frames.is_empty() {
            let i = row(&mut rows, &mut lines, "???", "???");
            let r = &mut rows[i];
            r.own_bytes = r.own_bytes.saturating_add(g.size);
            r.total_bytes = r.total_bytes.saturating_add(g.size);
            r.count = r.count.saturating_add(g.count);
            continue;
        }
        let mut seen: FxHashSet<usize> = FxHashSet::default();
        for (depth, f) in frames.iter().enumerate() {
            if hide_irrelevant && is_irrelevant(f) {
                continue;
            }
            let i = row(&mut rows, &mut lines, f.function, f.filename);
            if !seen.insert(i) {
                continue;
            }
            let r = &mut rows[i];
            if depth == 0 {
                r.own_bytes = r.own_bytes.saturating_add(g.size);
            }
            r.total_bytes = r.total_bytes.saturating_add(g.size);
            r.count = r.count.saturating_add(g.count);
            let line = lines[i].entry(f.line).or_default();
            *line = line.saturating_add(g.size);
        }
    }
    rows.into_iter()
        .zip(lines)
        .map(|(r, l)| {
            let hottest = l
                .into_iter()
                .max_by_key(|&(line, bytes)| (bytes, std::cmp::Reverse(line)))
                .map_or(0, |(line, _)| line);
            (r, hottest)
        })
        .collect()
}
