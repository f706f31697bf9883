//! The view a report shows — the peak, the leaks, or the temporary allocations, as chosen by
//! Memray's flags ([`ViewArgs`]) — its name in titles, and the capture read for it.

use anyhow::Result;

use memray_analysis::snapshot::{aggregate, Aggregate, View};
use memray_analysis::{Analysis, ReplayOptions};

use super::args::ViewArgs;
use super::input::{open_each, open_selected, refuse_aggregated};

/// The view's name in a report's title (` (temporal)` added for a temporal flame graph).
pub fn view_name(view: View, temporal: bool) -> String {
    let v = match view {
        View::Peak => "Memory at the high-water mark",
        View::Leaks => "Leaked memory",
        View::Temporary => "Temporary allocations",
    };
    if temporal {
        format!("{v} (temporal)")
    } else {
        v.to_string()
    }
}

/// The options a view reads its captures with.
fn replay_options(v: &ViewArgs) -> ReplayOptions {
    ReplayOptions {
        temporary_threshold: v.threshold(),
        ..Default::default()
    }
}

/// The groups of the chosen view in `a`.
fn view_groups(a: &Analysis, v: &ViewArgs, merge_threads: bool) -> Result<Vec<Aggregate>> {
    if v.view() == View::Temporary {
        refuse_aggregated(a, "find temporary allocations using")?;
    }
    Ok(aggregate(a, v.view(), merge_threads))
}

/// The capture (or the merged capture set) and the groups of the chosen view.
pub fn load_view(
    paths: &[String],
    v: &ViewArgs,
    merge_threads: bool,
) -> Result<(Analysis, Vec<Aggregate>)> {
    let a = open_selected(paths, replay_options(v), v.pid)?;
    let groups = view_groups(&a, v, merge_threads)?;
    Ok((a, groups))
}

/// One section of a `--by-process` report: its heading (None for a single capture), the
/// process's capture, and the groups of the view.
pub type Section = (Option<String>, Analysis, Vec<Aggregate>);

/// The sections of a report: every process of a capture set alone with `by_process`, else the
/// one (merged or `--pid`-picked) analysis without a heading.
pub fn load_sections(
    paths: &[String],
    v: &ViewArgs,
    merge_threads: bool,
    by_process: bool,
) -> Result<Vec<Section>> {
    if !by_process || v.pid.is_some() {
        let (a, groups) = load_view(paths, v, merge_threads)?;
        return Ok(vec![(None, a, groups)]);
    }
    open_each(paths, replay_options(v))?
        .into_iter()
        .map(|(heading, a)| {
            let groups = view_groups(&a, v, merge_threads)?;
            Ok((heading, a, groups))
        })
        .collect()
}
