//! The command line of `memray-table`.

use std::path::PathBuf;

use clap::Parser;

use crate::view::ViewArgs;

/// Generate an HTML table with all records in the peak memory usage.
#[derive(Parser)]
#[command(
    name = "memray-table",
    version,
    after_help = "Reads `-` as standard input."
)]
pub struct Args {
    /// Results of the tracker run
    pub results: String,
    /// Output file name
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// If the output file already exists, overwrite it
    #[arg(short, long)]
    pub force: bool,
    #[command(flatten)]
    pub view: ViewArgs,
    /// One row per thread instead of merging threads
    #[arg(long)]
    pub split_threads: bool,
}
