//! `memray-tree`: the biggest allocation paths as a tree in the terminal (the program is
//! [`memray_tools::tree`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::tree::{self, Args};

fn main() -> ExitCode {
    tree::main(cli::parse::<Args>())
}
