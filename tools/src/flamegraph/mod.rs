//! `memray-flamegraph` (`memray flamegraph`): one self-contained HTML file (no network) holding
//! the call tree of the chosen view, the memory-over-time samples, the capture's metadata and
//! the source lines of the frames shown, drawn on a canvas by the page's own script
//! (`template.html`); or, with `--format svg`, a static SVG drawn by inferno. [`args`] is the
//! command line, [`data`] the page's JSON document, [`temporal`] its `--temporal` data,
//! [`svg`] the static graph.

pub mod args;
pub mod data;
pub mod svg;
pub mod temporal;

use std::process::ExitCode;

use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::ReplayOptions;

use crate::common::cli;
use crate::common::input::{is_set, open_selected, refuse_aggregated};
use crate::common::output::report_output;
use crate::common::view::load_view;
pub use args::{Args, PageFormat};

/// Most boxes a flame graph page holds.
pub const MAX_NODES: usize = 50_000;

/// The page; `__MEMRAY_DATA__` is replaced by the JSON document (escaped for a script tag).
pub const TEMPLATE: &str = include_str!("template.html");

/// The page with `json` embedded.
pub fn render_page(json: &str) -> String {
    crate::common::html::embed(TEMPLATE, json)
}

/// The program: `Wrote <file>` and exit status 0, or 1 with one line on stderr.
pub fn main(args: Args) -> ExitCode {
    let report = &args.report;
    cli::run("memray-flamegraph", || {
        let split = args.split_threads || args.no_merge_threads;
        let output = report.out.path_or(|| {
            let ext = match args.format {
                PageFormat::Html => ".html",
                PageFormat::Svg => ".svg",
            };
            report_output(&report.results[0], "flamegraph", ext)
        });
        report.out.check(&output)?;
        let opts = TreeOptions {
            split_threads: split,
            inverted: args.inverted,
        };
        if args.format == PageFormat::Svg {
            if args.temporal {
                anyhow::bail!("--temporal needs the interactive page (--format html)");
            }
            let (a, groups) = load_view(&report.results, &report.view, !split)?;
            let svg = svg::render(&a, &groups, report.view.view(), args.inverted)?;
            return report.out.write(&output, &svg);
        }
        let doc = if args.temporal {
            let a = open_selected(
                &report.results,
                ReplayOptions {
                    temporal_peaks: !report.view.leaks,
                    lifetimes: report.view.leaks,
                    ..Default::default()
                },
                report.view.pid,
            )?;
            refuse_aggregated(&a, "create a temporal flame graph from")?;
            temporal::document(&a, opts, report.view.view())
        } else {
            // A capture set's tree is split by thread (and so by process), which the page's
            // process selector filters on; its thread selector shows only with --split-threads.
            let by_thread = split || (is_set(&report.results) && report.view.pid.is_none());
            let (a, groups) = load_view(&report.results, &report.view, !by_thread)?;
            let tree_opts = TreeOptions {
                split_threads: by_thread,
                ..opts
            };
            // Boxes narrower than a pixel cannot be seen: past MAX_NODES the smallest are
            // merged into their parents, keeping the page small and fast on any capture.
            let tree = CallTree::build(&a, &groups, tree_opts).bounded(MAX_NODES);
            let mut doc = data::build(&a, &tree, tree_opts, report.view.view(), None);
            doc.meta.split_threads = split;
            doc
        };
        let json = serde_json::to_string(&doc)?;
        report.out.write(&output, render_page(&json).as_bytes())
    })
}
