//! The command line of `memray-tree` (`memray tree`).

use clap::Parser;

use crate::common::args::{ViewArgs, READS_STDIN};

/// Generate a tree view in the terminal for peak memory usage.
#[derive(Parser)]
#[command(name = "memray-tree", version, after_help = READS_STDIN)]
pub struct Args {
    /// Results of the tracker run: a capture file, - for stdin, or a capture set (a directory
    /// of captures, or several capture files)
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<String>,
    /// Show the N biggest allocation paths (the rest are folded into one line)
    #[arg(
        short = 'b',
        long = "biggest-allocs",
        default_value_t = 200,
        value_name = "N"
    )]
    pub biggest_allocs: usize,
    /// With a capture set: one section per process (in order of start) instead of all of
    /// them together
    #[arg(long)]
    pub by_process: bool,
    #[command(flatten)]
    pub view: ViewArgs,
}
