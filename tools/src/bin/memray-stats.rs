//! `memray-stats`: high-level statistics of a capture, as a terminal report or JSON
//! (the program is [`memray_tools::stats`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::stats::{self, Args};

fn main() -> ExitCode {
    stats::main(cli::parse::<Args>())
}
