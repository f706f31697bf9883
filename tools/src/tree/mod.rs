//! `memray-tree` (`memray tree`): the biggest allocation paths of a view as a tree in the
//! terminal. [`args`] is the command line, [`report`] draws the tree.

pub mod args;
pub mod report;

use std::process::ExitCode;

use crate::common::cli;
use crate::common::estimate::Estimate;
use crate::common::output::print_heading;
use crate::common::output::stdout_is_terminal;
use crate::common::view::load_sections;
pub use args::Args;

/// The program: exit status 0, or 1 with one line on stderr.
pub fn main(args: Args) -> ExitCode {
    cli::run("memray-tree", || {
        let tty = stdout_is_terminal();
        for (heading, a, groups) in load_sections(&args.results, &args.view, true, args.by_process)?
        {
            print_heading(heading.as_deref(), tty);
            if let Some(e) = Estimate::of(&a.header, a.peak_memory) {
                println!("{}", e.line());
            }
            print!("{}", report::render(&a, &groups, args.biggest_allocs, tty));
        }
        Ok(())
    })
}
