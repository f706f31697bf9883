//! `memray-tree` (`memray tree`): the biggest allocation paths of a view as a tree in the
//! terminal. [`args`] is the command line, [`report`] draws the tree.

pub mod args;
pub mod report;

use std::process::ExitCode;

use crate::common::cli;
use crate::common::output::stdout_is_terminal;
use crate::common::view::load_view;
pub use args::Args;

/// The program: exit status 0, or 1 with one line on stderr.
pub fn main(args: Args) -> ExitCode {
    cli::run("memray-tree", || {
        let (a, groups) = load_view(&args.results, &args.view, true)?;
        let text = report::render(&a, &groups, args.biggest_allocs, stdout_is_terminal());
        print!("{text}");
        Ok(())
    })
}
