//! `memray-capture run` (also `memray run`): runs a Python program under the tracker (the
//! program is [`memray_tools::capture`]).

use std::process::ExitCode;

use clap::Parser;

use memray_tools::capture::{self, Cli};

fn main() -> ExitCode {
    capture::main(Cli::parse())
}
