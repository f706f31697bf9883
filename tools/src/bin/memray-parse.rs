//! `memray-parse`: prints every record of a capture, one per line, for debugging (the program
//! is [`memray_tools::parse`]).

use std::process::ExitCode;

use clap::Parser;

use memray_tools::parse::{self, Args};

fn main() -> ExitCode {
    parse::main(Args::parse())
}
