//! `memray-diff`: two captures compared, with CI gates (the program is
//! [`memray_tools::diff`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::diff::{self, Args};

fn main() -> ExitCode {
    diff::main(cli::parse::<Args>())
}
