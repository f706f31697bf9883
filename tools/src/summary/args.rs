//! The command line of `memray-summary` (`memray summary`).

use clap::Parser;

use crate::common::args::{ViewArgs, READS_STDIN};

/// Generate a terminal-based summary report of the functions that allocate most memory.
#[derive(Parser)]
#[command(name = "memray-summary", version, after_help = READS_STDIN)]
pub struct Args {
    /// Results of the tracker run: a capture file, - for stdin, or a capture set (a directory
    /// of captures, or several capture files)
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<String>,
    /// Column number to sort on (1: total memory, 2: total %, 3: own memory, 4: own %,
    /// 5: allocation count)
    #[arg(short = 's', long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub sort_column: u8,
    /// Maximum number of rows to display
    #[arg(short = 'r', long)]
    pub max_rows: Option<usize>,
    /// With a capture set: one section per process (in order of start) instead of all of
    /// them together
    #[arg(long)]
    pub by_process: bool,
    #[command(flatten)]
    pub view: ViewArgs,
}
