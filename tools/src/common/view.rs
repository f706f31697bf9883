//! The view a report shows — the peak, the leaks, or the temporary allocations, as chosen by
//! Memray's flags ([`ViewArgs`]) — its name in titles, and the capture read for it.

use anyhow::Result;

use memray_analysis::snapshot::{aggregate, Aggregate, View};
use memray_analysis::{Analysis, ReplayOptions};

use super::args::ViewArgs;
use super::input::{open_selected, refuse_aggregated};

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

/// The capture and the groups of the chosen view.
pub fn load_view(
    path: &str,
    v: &ViewArgs,
    merge_threads: bool,
) -> Result<(Analysis, Vec<Aggregate>)> {
    let a = open_selected(
        path,
        ReplayOptions {
            temporary_threshold: v.threshold(),
            ..Default::default()
        },
        v.pid,
    )?;
    if v.view() == View::Temporary {
        refuse_aggregated(&a, "find temporary allocations using")?;
    }
    let groups = aggregate(&a, v.view(), merge_threads);
    Ok((a, groups))
}
