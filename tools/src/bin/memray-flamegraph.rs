//! `memray-flamegraph`: a self-contained HTML flame graph of a capture.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use memray_format::analysis::tree::{CallTree, TreeOptions};
use memray_format::analysis::ReplayOptions;
use memray_tools::args::flamegraph::Args;
use memray_tools::flamegraph::{data, render_page, temporal};
use memray_tools::output::{create_output, report_output};
use memray_tools::view::{load_view, open_analysis};

/// Most boxes a flame graph page holds.
const MAX_NODES: usize = 50_000;

fn main() -> ExitCode {
    let args = Args::parse();
    memray_tools::cli::run("memray-flamegraph", || {
        let split = args.split_threads || args.no_merge_threads;
        let output = args
            .output
            .clone()
            .unwrap_or_else(|| report_output(&args.results, "flamegraph", ".html"));
        memray_tools::output::check_overwrite(&output, args.force)?;
        let opts = TreeOptions {
            split_threads: split,
            inverted: args.inverted,
        };
        let doc = if args.temporal {
            let a = open_analysis(
                &args.results,
                ReplayOptions {
                    temporal_peaks: !args.view.leaks,
                    lifetimes: args.view.leaks,
                    ..Default::default()
                },
            )?;
            temporal::document(&a, opts, args.view.view())
        } else {
            let (a, groups) = load_view(&args.results, &args.view, !split)?;
            // Boxes narrower than a pixel cannot be seen: past MAX_NODES the smallest are
            // merged into their parents, keeping the page small and fast on any capture.
            let tree = CallTree::build(&a, &groups, opts).bounded(MAX_NODES);
            data::build(&a, &tree, opts, args.view.view(), None)
        };
        let json = serde_json::to_string(&doc)?;
        let page = render_page(&json);
        let mut f = create_output(&output, args.force)?;
        f.write_all(page.as_bytes())?;
        println!("Wrote {}", output.display());
        Ok(())
    })
}
