//! `memray`: the dispatcher, `memray <cmd> ARGS` runs `memray-<cmd> ARGS` (the program is
//! [`memray_tools::memray`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    memray_tools::memray::main(std::env::args_os().skip(1).collect())
}
