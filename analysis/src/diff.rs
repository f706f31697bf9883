//! Two captures compared (`memray-diff`): every allocating location of either, matched by
//! function and file (code moved within a file still matches), by function, file and line, or
//! by function alone, with its bytes and allocation count in the view compared (live at the
//! peak, leaked, temporary, or everything allocated) before and after; and the captures' totals.
//! A location is where the allocation was made: the innermost frame of its stack as the reports
//! show it (the hybrid stack's innermost frame in a native capture).

use rustc_hash::FxHashMap;

use super::frames::visible_frames;
use super::replay::{Analysis, LocKey};
use memray_format::records::FileFormat;

/// How locations of the two captures are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Function and file: a function that moved within its file is the same place.
    File,
    /// Function, file and line.
    Line,
    /// Function name alone (a function that moved to another file is the same place).
    Function,
}

/// What is compared at each location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Live at the high-water mark.
    Peak,
    /// Still live at the end.
    Leaks,
    /// Temporary allocations (both captures read with the same threshold).
    Temporary,
    /// Everything allocated, freed or not.
    Allocated,
}

impl Measure {
    pub fn name(self) -> &'static str {
        match self {
            Measure::Peak => "peak",
            Measure::Leaks => "leaks",
            Measure::Temporary => "temporary",
            Measure::Allocated => "allocated",
        }
    }
}

/// One capture's figures at a location.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Side {
    pub bytes: u64,
    pub count: u64,
}

/// A location and its figures in both captures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub function: String,
    /// Empty when matching by function alone.
    pub file: String,
    /// 0 unless matching by line.
    pub line: u32,
    pub base: Side,
    pub new: Side,
}

impl Row {
    /// New bytes minus base bytes.
    pub fn change(&self) -> i128 {
        i128::from(self.new.bytes) - i128::from(self.base.bytes)
    }

    pub fn count_change(&self) -> i128 {
        i128::from(self.new.count) - i128::from(self.base.count)
    }
}

/// A capture's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub peak_memory: u64,
    pub leaked_bytes: u64,
    pub total_bytes_allocated: u64,
    pub total_allocations: u64,
    /// The compared measure summed over every location.
    pub measured: Side,
}

/// The comparison: rows in order of change (largest growth first, then the unchanged, then
/// the largest shrinkage last; ties by name).
#[derive(Debug, Clone)]
pub struct Diff {
    pub measure: Measure,
    pub matching: Match,
    pub base: Totals,
    pub new: Totals,
    pub rows: Vec<Row>,
}

/// Why two captures cannot be compared on a measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomparable(pub String);

impl std::fmt::Display for Incomparable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Incomparable {}

/// Fails when `measure` needs what a pre-aggregated capture (`--aggregate`) does not keep:
/// such a capture has each location's peak and leaks only.
pub fn check_comparable(
    base: &Analysis,
    new: &Analysis,
    measure: Measure,
) -> Result<(), Incomparable> {
    if !matches!(measure, Measure::Temporary | Measure::Allocated) {
        return Ok(());
    }
    for (which, a) in [("BASE", base), ("NEW", new)] {
        if a.header.file_format == FileFormat::AggregatedAllocations {
            return Err(Incomparable(format!(
                "{which} is a pre-aggregated capture (--aggregate), which keeps only each \
                 location's peak and leaks: compare those (the default, or --leaks)"
            )));
        }
    }
    Ok(())
}

type Place = (String, String, u32);

/// Each location's place in one capture, and its figures for the measure, summed by place.
fn by_place(a: &Analysis, measure: Measure, matching: Match) -> FxHashMap<Place, Side> {
    let mut places: FxHashMap<(u32, u32, bool), Place> = FxHashMap::default();
    let mut out: FxHashMap<Place, Side> = FxHashMap::default();
    let mut add = |key: &LocKey, bytes: u64, count: u64| {
        if bytes == 0 && count == 0 {
            return;
        }
        let main = key.thread == a.header.main_thread_id;
        let place = places
            .entry((key.stack, key.native_stack, main))
            .or_insert_with(|| place_of(a, key, matching))
            .clone();
        let side = out.entry(place).or_default();
        side.bytes = side.bytes.saturating_add(bytes);
        side.count = side.count.saturating_add(count);
    };
    match measure {
        Measure::Temporary => {
            for t in &a.temporary {
                add(&t.key, t.bytes, t.count);
            }
        }
        _ => {
            for (key, s) in &a.locations {
                let (bytes, count) = match measure {
                    Measure::Peak => (s.peak_bytes, s.peak_count),
                    Measure::Leaks => (s.live_bytes, s.live_count),
                    _ => (s.total_bytes, s.total_count),
                };
                add(key, bytes, count);
            }
        }
    }
    out
}

/// Where an allocation was made, as matched: its innermost visible frame (`???` without any).
fn place_of(a: &Analysis, key: &LocKey, matching: Match) -> Place {
    let frames = visible_frames(a, key.stack, key.native_stack, key.thread);
    let (function, file, line) = match frames.first() {
        Some(f) => (f.function, f.filename, f.line),
        None => ("???", "???", 0),
    };
    match matching {
        Match::File => (function.to_string(), file.to_string(), 0),
        Match::Line => (function.to_string(), file.to_string(), line),
        Match::Function => (function.to_string(), String::new(), 0),
    }
}

fn totals(a: &Analysis, measured: &FxHashMap<Place, Side>) -> Totals {
    let mut sum = Side::default();
    for s in measured.values() {
        sum.bytes = sum.bytes.saturating_add(s.bytes);
        sum.count = sum.count.saturating_add(s.count);
    }
    Totals {
        peak_memory: a.peak_memory,
        leaked_bytes: a.leaked_bytes,
        total_bytes_allocated: a.bytes_allocated,
        total_allocations: a.n_allocations,
        measured: sum,
    }
}

/// Compares `new` against `base` (check [`check_comparable`] first).
pub fn diff(base: &Analysis, new: &Analysis, measure: Measure, matching: Match) -> Diff {
    let before = by_place(base, measure, matching);
    let after = by_place(new, measure, matching);
    let mut rows: Vec<Row> = before
        .iter()
        .map(|(place, side)| (place, *side, after.get(place).copied().unwrap_or_default()))
        .chain(
            after
                .iter()
                .filter(|(place, _)| !before.contains_key(*place))
                .map(|(place, side)| (place, Side::default(), *side)),
        )
        .map(|((function, file, line), base, new)| Row {
            function: function.clone(),
            file: file.clone(),
            line: *line,
            base,
            new,
        })
        .collect();
    rows.sort_by(|x, y| {
        y.change()
            .cmp(&x.change())
            .then_with(|| y.count_change().cmp(&x.count_change()))
            .then_with(|| (&x.function, &x.file, x.line).cmp(&(&y.function, &y.file, y.line)))
    });
    Diff {
        measure,
        matching,
        base: totals(base, &before),
        new: totals(new, &after),
        rows,
    }
}
