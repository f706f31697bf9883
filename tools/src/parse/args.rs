//! The command line of `memray-parse` (`memray parse`).

use clap::Parser;

use crate::common::args::READS_STDIN;

/// Debug a results file by parsing and printing each record in it.
///
/// Prints one line per record of the capture, in file order: the header, each chunk's
/// header, then the chunk's records (thread switches, code objects, stack nodes, thread names,
/// memory samples, images, allocations), and the trailer. Refuses to print to a terminal:
/// redirect standard output to a file or a pipeline.
#[derive(Parser)]
#[command(name = "memray-parse", version, after_help = READS_STDIN)]
pub struct Args {
    /// Results of the tracker run (a capture file, or - for stdin)
    pub results: String,
}
