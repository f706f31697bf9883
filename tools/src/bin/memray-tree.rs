//! `memray-tree`: the biggest allocation paths as a tree in the terminal.

use std::process::ExitCode;

use clap::Parser;

use memray_tools::args::tree::Args;
use memray_tools::output::stdout_is_terminal;
use memray_tools::view::load_view;

fn main() -> ExitCode {
    let args = Args::parse();
    memray_tools::cli::run("memray-tree", || {
        let (a, groups) = load_view(&args.results, &args.view, true)?;
        let text = memray_tools::tree_report::render(
            &a,
            &groups,
            args.biggest_allocs,
            stdout_is_terminal(),
        );
        print!("{text}");
        Ok(())
    })
}
