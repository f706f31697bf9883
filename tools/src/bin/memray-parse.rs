//! `memray-parse`: prints every record of a capture, one per line, for debugging (the program
//! is [`memray_tools::parse`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::parse::{self, Args};

fn main() -> ExitCode {
    parse::main(cli::parse::<Args>())
}
