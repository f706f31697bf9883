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
    let mut stacks = folded::lines(&Export {
        analysis: a,
        view,
        groups,
    });
    let mut opts = inferno::flamegraph::Options::default();
    // inferno adds the lines up in a `usize`: past that, the lines are drawn in units of
    // `factor` bytes, which its labels multiply back (only a capture whose sizes add up past
    // 2^64 bytes, as a corrupt one can, gets there).
    let total: u128 = stacks.iter().map(|(_, bytes)| u128::from(*bytes)).sum();
    let room = u128::try_from(usize::MAX).unwrap_or(u128::MAX);
    if total > room {
        let factor = total.div_ceil(room);
        for (_, bytes) in &mut stacks {
            *bytes = u64::try_from(u128::from(*bytes) / factor).unwrap_or(u64::MAX);
        }
        opts.factor = factor as f64;
    }
    let mut lines = Vec::new();
    folded::write(&stacks, &mut lines)?;
    opts.title = view_name(view, false);
    opts.count_name = "bytes".into();
    if inverted {
        opts.direction = inferno::flamegraph::Direction::Inverted;
    }
    let mut svg = Vec::new();
    inferno::flamegraph::from_reader(&mut opts, &lines[..], &mut svg)?;
    Ok(svg)
}
