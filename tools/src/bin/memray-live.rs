//! `memray-live PORT` (also `memray live PORT`): connects to a program tracked with
//! `memray run --live-remote` and shows its live heap in the terminal (the program is
//! [`memray_tools::live`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::live::{self, Args};

fn main() -> ExitCode {
    live::main(cli::parse::<Args>())
}
