//! `memray flamegraph --format svg`: the view's collapsed stacks (the `folded` transform) drawn
//! as a static SVG flame graph by inferno.

use memray_analysis::snapshot::{Aggregate, View};
use memray_analysis::Analysis;

use crate::common::view::view_name;
use crate::transform::{folded, Export};

/// The SVG flame graph of `groups`, callers under callees when `inverted`.
pub fn render(
    a: &Analysis,
    groups: &[Aggregate],
    view: View,
    inverted: bool,
) -> anyhow::Result<Vec<u8>> {
    let mut lines = Vec::new();
    folded::render(
        &Export {
            analysis: a,
            view,
            groups,
        },
        &mut lines,
    )?;
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = view_name(view, false);
    opts.count_name = "bytes".into();
    if inverted {
        opts.direction = inferno::flamegraph::Direction::Inverted;
    }
    let mut svg = Vec::new();
    inferno::flamegraph::from_reader(&mut opts, &lines[..], &mut svg)?;
    Ok(svg)
}
