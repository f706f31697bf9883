//! The command line of `memray-flamegraph` (`memray flamegraph`).

use clap::{Parser, ValueEnum};

use crate::common::args::{FileReportArgs, READS_STDIN};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PageFormat {
    Html,
    Svg,
}

/// Generate an HTML flame graph for peak memory usage.
///
/// The page is self-contained (it loads nothing from the network) and works from file://.
#[derive(Parser)]
#[command(name = "memray-flamegraph", version, after_help = READS_STDIN)]
pub struct Args {
    #[command(flatten)]
    pub report: FileReportArgs,
    /// Show a graph of callers under callees (allocating functions at the top)
    #[arg(short = 'i', long)]
    pub inverted: bool,
    /// Split the graph by thread, with a thread selector
    #[arg(long)]
    pub split_threads: bool,
    /// Let the user pick a time range on the memory chart and show the peak (or, with
    /// --leaks, the leaks) inside it
    #[arg(long, conflicts_with_all = ["temporary_allocation_threshold", "temporary_allocations"])]
    pub temporal: bool,
    /// What to write: the interactive HTML page, or a static SVG flame graph (drawn by the
    /// inferno crate; its default name ends in .svg)
    #[arg(long, value_enum, default_value_t = PageFormat::Html)]
    pub format: PageFormat,
    /// Do not merge frames from different threads (same as --split-threads)
    #[arg(long, hide = true)]
    pub no_merge_threads: bool,
}
