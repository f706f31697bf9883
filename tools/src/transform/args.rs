//! The command line of `memray-transform` (`memray transform`).

use clap::Parser;

use crate::common::args::{OutputArgs, ViewArgs, READS_STDIN};

/// Generate reports files in different formats.
///
/// Exports the allocations live at the peak (or, with --leaks, still live at exit; with
/// --temporary-allocations, the temporary ones) for other tools: csv (a spreadsheet row per
/// stack), gprof2dot (its JSON), speedscope (a speedscope file), folded (collapsed stacks for
/// inferno-flamegraph and flamegraph.pl), pprof (a gzipped profile.proto for go tool pprof,
/// Pyroscope, Grafana, Parca) and diff-folded (two captures, BASE then NEW: each collapsed stack
/// with its bytes before and after, `stack BEFORE AFTER`, as inferno-diff-folded writes it for
/// inferno-flamegraph's differential graphs).
///
/// Run directly as `memray-transform`, the data goes to standard output when `-o -` is given,
/// or when no `-o` is given and standard output is not a terminal (a pipe or a file), so
/// `memray-transform folded out.bin | inferno-flamegraph > fg.svg` works. Otherwise it is
/// written to `-o OUTPUT`, or to Memray's default name beside the capture,
/// `memray-<format>-<capture name minus memray- and its suffix><format suffix>` (.csv, .json,
/// .speedscope.json, .folded, .pb.gz), never over an existing file without --force. Run as
/// `memray transform` (or `python -m memray transform`), it behaves exactly like Memray 1.20:
/// always a file (unless `-o -`), then `Wrote <file>`.
#[derive(Parser)]
#[command(
    name = "memray-transform",
    version,
    after_help = READS_STDIN,
    mut_arg("output", |a| a.help("Output file name (- for standard output)"))
)]
pub struct Args {
    /// Format to use for the report. Available formats: gprof2dot, csv, speedscope, folded,
    /// pprof, diff-folded
    pub format: String,
    /// Results of the tracker run: a capture file, - for stdin, or a capture set (a directory
    /// of captures, or several capture files)
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<String>,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub view: ViewArgs,
}
