//! The command line of `memray-stats` (`memray stats`).

use clap::Parser;

use crate::common::args::{OutputArgs, READS_STDIN};

/// Generate high level stats of the memory usage in the terminal.
///
/// Run directly as `memray-stats`, the JSON document goes to stdout whenever stdout is not a
/// terminal and no `-o` is given, so `memray-stats out.bin | jq .` works. Run as `memray stats`
/// (or `python -m memray stats`), it behaves exactly like Memray 1.20: the text report on
/// stdout, and `--json` writes `memray-stats-<capture>.json` beside the capture.
#[derive(Parser)]
#[command(
    name = "memray-stats",
    version,
    after_help = READS_STDIN,
    mut_arg("output", |a| a.help("Output file name for JSON output")),
    mut_arg("force", |a| a.help("If the JSON output file already exists, overwrite it"))
)]
pub struct Args {
    /// Results of the tracker run: a capture file, - for stdin, or a capture set (a directory
    /// of captures, or several capture files)
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<String>,
    /// Displays the top 'n' largest allocating functions
    #[arg(short = 'n', long = "num-largest", default_value_t = 5, value_parser = positive)]
    pub num_largest: usize,
    /// Exports stats as JSON
    #[arg(long)]
    pub json: bool,
    /// With a capture set (a directory of captures, one per process): report on process PID
    /// only
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// With a capture set: one section per process (in order of start) instead of all of
    /// them together
    #[arg(long)]
    pub by_process: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

fn positive(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{v} is an invalid positive int value")),
    }
}
