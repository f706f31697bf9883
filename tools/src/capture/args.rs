//! The command line of `memray-capture` (`memray run`, `memray attach`, `memray detach`).

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
    /// Begin tracking allocations in an already started process
    #[command(override_usage = "memray attach [options] <pid>")]
    Attach(AttachArgs),
    /// End the tracking started by a previous ``memray attach`` call
    #[command(override_usage = "memray detach [options] <pid>")]
    Detach(DetachArgs),
}

/// How to get into the target: `auto` (the only debugger here is gdb; CPython 3.14's
/// `sys.remote_exec` where the target has it), `gdb`, or `lldb` (not supported).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Method {
    Auto,
    Gdb,
    Lldb,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Gdb => "gdb",
            Method::Lldb => "lldb",
        }
    }
}

#[derive(clap::Args)]
pub struct AttachArgs {
    /// Capture allocations into the given file instead of starting a live tracking session
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// If the output file already exists, overwrite it
    #[arg(short, long)]
    pub force: bool,
    /// Write aggregated stats to the output file instead of all allocations
    #[arg(long, requires = "output")]
    pub aggregate: bool,
    /// Track native (C/C++) stack frames as well
    #[arg(long)]
    pub native: bool,
    /// Record allocations in child processes forked from the tracked script
    #[arg(long, requires = "output")]
    pub follow_fork: bool,
    /// Record allocations made by the pymalloc allocator
    #[arg(long)]
    pub trace_python_allocators: bool,
    /// Do not compress the capture
    #[arg(long)]
    pub no_compress: bool,
    /// Method to use for injecting code into the process to track
    #[arg(long, value_enum, default_value = "auto")]
    pub method: Method,
    /// Print verbose debugging information.
    #[arg(short, long)]
    pub verbose: bool,
    /// Duration to track for (in seconds) before detaching
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub duration: Option<u32>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Process id to affect
    pub pid: i32,
}

#[derive(clap::Args)]
pub struct DetachArgs {
    /// Method to use for injecting code into the process to track
    #[arg(long, value_enum, default_value = "auto")]
    pub method: Method,
    /// Print verbose debugging information.
    #[arg(short, long)]
    pub verbose: bool,
    /// Process id to affect
    pub pid: i32,
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
    /// Record allocations in every Python process started below the tracked script (fork,
    /// multiprocessing's spawn and forkserver, subprocess and exec of a Python), each into
    /// OUTPUT.<pid>
    #[arg(long)]
    pub follow_children: bool,
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
    #[command(flatten)]
    pub sampling: SamplingArgs,
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

/// `--sample-every` and `--sample-seed`, shared by `memray run` and `memray attach`.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct SamplingArgs {
    /// Record a sample of the allocations instead of every one: on average one allocated byte
    /// in BYTES (byte-based Poisson sampling; suffixes K, M, G are powers of 1024; 512K is a
    /// good start). Reports scale the sampled bytes into estimates and say so
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub sample_every: Option<u64>,
    /// Seed for --sample-every's random choices, so that a run can be repeated exactly
    #[arg(long, value_name = "N", requires = "sample_every")]
    pub sample_seed: Option<u64>,
}

impl SamplingArgs {
    /// What the tracked side is told: `RATE` or `RATE:SEED`; None without sampling.
    pub fn spec(&self) -> Option<String> {
        let rate = self.sample_every?;
        Some(match self.sample_seed {
            Some(seed) => format!("{rate}:{seed}"),
            None => rate.to_string(),
        })
    }
}

/// A positive number of bytes, with an optional K, M or G suffix (powers of 1024; `KiB`,
/// `KB` and a trailing `B` are accepted too).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let unit: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "'{text}' is not a number of bytes (like 524288 or 512K)"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a number of bytes (like 524288 or 512K)"))?;
    match n.checked_mul(unit) {
        Some(0) => Err("the sampling rate must be at least 1 byte".to_string()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("'{text}' is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("524288"), Ok(524_288));
        assert_eq!(parse_bytes("512K"), Ok(524_288));
        assert_eq!(parse_bytes("512KiB"), Ok(524_288));
        assert_eq!(parse_bytes("1m"), Ok(1 << 20));
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("-5").is_err());
        assert!(parse_bytes("12X").is_err());
        assert!(parse_bytes("K").is_err());
        assert!(parse_bytes("99999999999999999999G").is_err());
    }
}
