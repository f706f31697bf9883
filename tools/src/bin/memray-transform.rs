//! `memray-transform`: exports a view of a capture as csv, gprof2dot, speedscope, folded or
//! pprof (the program is [`memray_tools::transform`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::transform::{self, Args};

fn main() -> ExitCode {
    transform::main(cli::parse::<Args>())
}
