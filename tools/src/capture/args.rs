//! The command line of `memray-capture` (`memray run`).

use std::path::PathBuf;

use clap::builder::{StringValueParser, TypedValueParser};
use clap::{Parser, Subcommand};

use crate::common::args::OutputArgs;

#[derive(Parser)]
#[command(
    name = "memray-capture",
    version,
    about = "Run a Python program under the memray tracker"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run the specified application and track memory usage
    #[command(override_usage = "memray run [options] [-m module | -c cmd | file] [args]")]
    Run(RunArgs),
}

// `-o` names the capture, passed on to the Python side as text: any UTF-8 name (even an empty
// one, which means the default) and nothing else. (A plain comment: a doc comment here would be
// the subcommand's help.)
#[derive(clap::Args)]
#[command(mut_arg("output", |a| a
    .help("Output file name (default: <process_name>.<pid>.bin)")
    .conflicts_with_all(["live", "live_remote"])
    .value_parser(StringValueParser::new().map(PathBuf::from))))]
pub struct RunArgs {
    #[command(flatten)]
    pub out: OutputArgs,
    /// Don't show any tracking-specific output while running
    #[arg(short, long)]
    pub quiet: bool,
    /// Track native (C/C++) stack frames as well
    #[arg(long)]
    pub native: bool,
    /// Record allocations made by the pymalloc allocator
    #[arg(long)]
    pub trace_python_allocators: bool,
    /// Record allocations in child processes forked from the tracked script
    #[arg(long)]
    pub follow_fork: bool,
    /// Write aggregated stats to the output file instead of all allocations
    #[arg(long)]
    pub aggregate: bool,
    /// Start a live tracking session and immediately connect a live server
    #[arg(long)]
    pub live: bool,
    /// Start a live tracking session and wait until a client connects
    #[arg(long, conflicts_with = "live")]
    pub live_remote: bool,
    /// Port to use when starting live tracking (default: random free port)
    #[arg(short = 'p', long, allow_negative_numbers = true)]
    pub live_port: Option<i64>,
    /// Do not compress the capture
    #[arg(long)]
    pub no_compress: bool,
    /// Compress the capture (the default)
    #[arg(long, hide = true)]
    pub compress_on_exit: bool,
    /// Program passed in as string
    #[arg(short = 'c')]
    pub run_as_cmd: bool,
    /// Run library module as a script (terminates option list)
    #[arg(short = 'm', conflicts_with = "run_as_cmd")]
    pub run_as_module: bool,
    /// The script, module or code to run, then its arguments. An option before it that is not
    /// one of ours is an error; everything after it belongs to the program.
    #[arg(required = true, trailing_var_arg = true, value_name = "file")]
    pub target: Vec<String>,
}
