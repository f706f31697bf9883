//! The command line of `memray-tree` (`memray tree`).

use clap::Parser;

use crate::common::args::{ViewArgs, READS_STDIN};

/// Generate a tree view in the terminal for peak memory usage.
#[derive(Parser)]
#[command(name = "memray-tree", version, after_help = READS_STDIN)]
pub struct Args {
    /// Results of the tracker run
    pub results: String,
    /// Show the N biggest allocation paths (the rest are folded into one line)
    #[arg(
        short = 'b',
        long = "biggest-allocs",
        default_value_t = 200,
        value_name = "N"
    )]
    pub biggest_allocs: usize,
    #[command(flatten)]
    pub view: ViewArgs,
}
