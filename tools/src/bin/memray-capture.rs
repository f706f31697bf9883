//! `memray-capture run` (also `memray run`): runs a Python program under the tracker (the
//! program is [`memray_tools::capture`]).

use std::process::ExitCode;

use memray_tools::capture::{self, Cli};
use memray_tools::common::cli;

fn main() -> ExitCode {
    capture::main(cli::parse::<Cli>())
}
