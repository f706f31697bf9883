//! The command line of `memray-diff` (`memray diff`).

use clap::{Parser, ValueEnum};

use super::gate::Threshold;
use crate::common::args::OutputArgs;

/// Compare two captures: what grew, what shrank, and by how much.
///
/// BASE and NEW are captures (or capture sets: directories of captures). Locations (where the
/// memory was allocated) are matched by function and file, so code that moved within its file
/// still matches. The report gives the totals before, after and their change, then the
/// locations that grew and shrank most. Run directly as `memray-diff`, the JSON document goes
/// to stdout whenever stdout is not a terminal; `--json` asks for it anywhere.
///
/// With `--fail-if-...`, a threshold exceeded prints the offending lines on stderr and ends
/// with exit status 1 (for CI). Thresholds are a percentage of the base (`10%`) or a size
/// (`1MB`, `512KiB`, `1000000`).
#[derive(Parser)]
#[command(
    name = "memray-diff",
    version,
    mut_arg("output", |a| a.help("Write the JSON document (or the HTML page) to this file"))
)]
pub struct Args {
    /// The capture before (a capture file, or a directory of captures)
    pub base: String,
    /// The capture after
    pub new: String,
    /// Compare the leaks (memory still allocated at the end) instead of the peak
    #[arg(long, conflicts_with_all = ["temporary_allocations", "temporary_allocation_threshold", "allocated"])]
    pub leaks: bool,
    /// Compare temporary allocations: those freed before more than N other allocations
    #[arg(long, value_name = "N", conflicts_with_all = ["temporary_allocations", "allocated"])]
    pub temporary_allocation_threshold: Option<usize>,
    /// Equivalent to --temporary-allocation-threshold=1
    #[arg(long, conflicts_with = "allocated")]
    pub temporary_allocations: bool,
    /// Compare everything allocated (bytes and allocation counts), freed or not
    #[arg(long)]
    pub allocated: bool,
    /// How locations of the two captures are matched
    #[arg(long = "match", value_enum, default_value_t = MatchArg::File)]
    pub matching: MatchArg,
    /// How many locations to list by growth, and by shrinkage
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Write the JSON document (to stdout, or to -o FILE)
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// text: the terminal report; html: a differential flame graph (needs -o)
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Fail (exit status 1) if the peak memory grew by more than PCT% or BYTES
    #[arg(long, value_name = "PCT|BYTES")]
    pub fail_if_peak_grows: Option<Threshold>,
    /// Fail if the leaked bytes grew by more than PCT% or BYTES
    #[arg(long, value_name = "PCT|BYTES")]
    pub fail_if_leaks_grow: Option<Threshold>,
    /// Fail if any location's compared bytes grew by more than PCT% or BYTES
    #[arg(long, value_name = "PCT|BYTES")]
    pub fail_if_location_grows: Option<Threshold>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MatchArg {
    /// Function and file (code that moved within its file still matches)
    File,
    /// Function, file and line
    Line,
    /// Function name only
    Function,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Text,
    Html,
}
