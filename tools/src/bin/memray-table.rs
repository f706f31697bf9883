//! `memray-table`: a self-contained, sortable and searchable HTML table of a capture (the
//! program is [`memray_tools::table`]).

use std::process::ExitCode;

use memray_tools::common::cli;
use memray_tools::table::{self, Args};

fn main() -> ExitCode {
    table::main(cli::parse::<Args>())
}
