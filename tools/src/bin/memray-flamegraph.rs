//! `memray-flamegraph`: a self-contained HTML flame graph of a capture (the program is
//! [`memray_tools::flamegraph`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::flamegraph::{self, Args};

fn main() -> ExitCode {
    flamegraph::main(cli::parse::<Args>())
}
