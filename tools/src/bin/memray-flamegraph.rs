//! `memray-flamegraph`: a self-contained HTML flame graph of a capture.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use memray_analysis::snapshot::{Aggregate, View};
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::Analysis;
use memray_analysis::ReplayOptions;
use memray_tools::args::flamegraph::{Args, PageFormat};
use memray_tools::flamegraph::{data, render_page, temporal};
use memray_tools::output::{create_output, report_output};
use memray_tools::transform::{folded, Export};
use memray_tools::view::{load_view, open_analysis, refuse_aggregated};

/// Most boxes a flame graph page holds.
const MAX_NODES: usize = 50_000;

fn main() -> ExitCode {
    let args = Args::parse();
    memray_tools::cli::run("memray-flamegraph", || {
        let split = args.split_threads || args.no_merge_threads;
        let output = args.output.clone().unwrap_or_else(|| {
            let ext = match args.format {
                PageFormat::Html => ".html",
                PageFormat::Svg => ".svg",
            };
            report_output(&args.results, "flamegraph", ext)
        });
        memray_tools::output::check_overwrite(&output, args.force)?;
        let opts = TreeOptions {
            split_threads: split,
            inverted: args.inverted,
        };
        if args.format == PageFormat::Svg {
            if args.temporal {
                anyhow::bail!("--temporal needs the interactive page (--format html)");
            }
            let (a, groups) = load_view(&args.results, &args.view, !split)?;
            let svg = static_svg(&a, &groups, args.view.view(), args.inverted)?;
            create_output(&output, args.force)?.write_all(&svg)?;
            println!("Wrote {}", output.display());
            return Ok(());
        }
        let doc = if args.temporal {
            let a = open_analysis(
                &args.results,
                ReplayOptions {
                    temporal_peaks: !args.view.leaks,
                    lifetimes: args.view.leaks,
                    ..Default::default()
                },
            )?;
            refuse_aggregated(&a, "create a temporal flame graph from")?;
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

/// A static SVG flame graph: the view's collapsed stacks drawn by inferno.
fn static_svg(
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
    opts.title = data::view_name(view, false);
    opts.count_name = "bytes".into();
    if inverted {
        opts.direction = inferno::flamegraph::Direction::Inverted;
    }
    let mut svg = Vec::new();
    inferno::flamegraph::from_reader(&mut opts, &lines[..], &mut svg)?;
    Ok(svg)
}
