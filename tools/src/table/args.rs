//! The command line of `memray-table` (`memray table`).

use clap::Parser;

use crate::common::args::{FileReportArgs, READS_STDIN};

/// Generate an HTML table with all records in the peak memory usage.
#[derive(Parser)]
#[command(name = "memray-table", version, after_help = READS_STDIN)]
pub struct Args {
    #[command(flatten)]
    pub report: FileReportArgs,
    /// One row per thread instead of merging threads
    #[arg(long)]
    pub split_threads: bool,
}
