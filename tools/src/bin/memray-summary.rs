//! `memray-summary`: the functions that hold the most memory, as a terminal table (the program
//! is [`memray_tools::summary`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::summary::{self, Args};

fn main() -> ExitCode {
    summary::main(cli::parse::<Args>())
}
