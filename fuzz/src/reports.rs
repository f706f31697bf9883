//! Every report the command-line programs make, run over one analysis with its output thrown
//! away: stats (text and JSON), the flame graph page (plain, inverted, per thread, temporal) and
//! its SVG, the table, the tree, the summary and every transform format, for each view. A
//! pre-aggregated capture gets only what the programs give it.

use memray_analysis::functions::by_function;
use memray_analysis::snapshot::{aggregate, View};
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::{stats, Analysis, ReplayOptions};
use memray_format::FileFormat;
use memray_tools::transform::{Export, Format};
use memray_tools::{flamegraph, summary, table, transform, tree};

/// Every observer of the replay on, so that every view and report can be made.
pub const EVERY_OBSERVER: ReplayOptions = ReplayOptions {
    size_counts: true,
    temporary_threshold: Some(1),
    temporal_peaks: true,
    lifetimes: true,
};

/// Boxes a fuzzed flame graph keeps (the program keeps 50 000; fewer keeps runs fast).
const MAX_NODES: usize = 2_000;

/// Makes every report of `a`.
pub fn all(a: &Analysis) {
    let aggregated = a.header.file_format == FileFormat::AggregatedAllocations;
    if !aggregated {
        let s = stats::compute(a, 5);
        let _ = memray_tools::stats::report::render_json(a, &s);
        let _ = memray_tools::stats::report::render_text(a, &s, 5, false);
    }
    for view in [View::Peak, View::Leaks, View::Temporary] {
        if aggregated && view == View::Temporary {
            continue;
        }
        for merge in [true, false] {
            let groups = aggregate(a, view, merge);
            for inverted in [false, true] {
                let opts = TreeOptions {
                    split_threads: !merge,
                    inverted,
                };
                let tree = CallTree::build(a, &groups, opts).bounded(MAX_NODES);
                let doc = flamegraph::data::build(a, &tree, opts, view, None);
                let _ = serde_json::to_string(&doc);
            }
            let _ = flamegraph::svg::render(a, &groups, view, false);
            let doc = table::data::build(a, &groups, merge, String::new());
            let _ = serde_json::to_string(&doc);
            let _ = tree::report::render(a, &groups, 10, false);
            let rows = by_function(a, &groups, 0.95);
            let _ = summary::report::render(&rows, 1, 20, false, Some(160));
            let export = Export {
                analysis: a,
                view,
                groups: &groups,
            };
            for format in [
                Format::Gprof2dot,
                Format::Csv,
                Format::Speedscope,
                Format::Folded,
                Format::Pprof,
            ] {
                let _ = transform::render(format, &export, &mut Vec::new());
            }
        }
        if !aggregated && view != View::Temporary {
            let opts = TreeOptions::default();
            let doc = flamegraph::temporal::document(a, opts, view);
            let _ = serde_json::to_string(&doc);
        }
    }
}
