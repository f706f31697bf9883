//! `memray-summary` (`memray summary`): the functions that hold the most memory in a view, as a
//! terminal table. [`args`] is the command line, [`report`] draws the table of
//! `memray_analysis::functions`; this module sizes it to the terminal.

pub mod args;
pub mod report;

use std::process::ExitCode;

use memray_analysis::functions::by_function;

use crate::common::cli;
use crate::common::estimate::Estimate;
use crate::common::output::print_heading;
use crate::common::output::stdout_is_terminal;
use crate::common::view::load_sections;
pub use args::Args;

/// The program: exit status 0, or 1 with one line on stderr.
pub fn main(args: Args) -> ExitCode {
    cli::run("memray-summary", || {
        let tty = stdout_is_terminal();
        let (width, lines) = terminal_size();
        let max_rows = args
            .max_rows
            .unwrap_or_else(|| lines.saturating_sub(5).max(10));
        for (heading, a, groups) in load_sections(&args.results, &args.view, true, args.by_process)?
        {
            print_heading(heading.as_deref(), tty);
            if let Some(e) = Estimate::of(&a.header, a.peak_memory) {
                println!("{}", e.line());
            }
            // Like Memray: groups in order until 95% of the view's memory is covered.
            let rows = by_function(&a, &groups, 0.95);
            let table = report::render(
                &rows,
                usize::from(args.sort_column),
                max_rows,
                tty,
                if tty { width } else { Some(160) },
            );
            println!("{table}");
        }
        Ok(())
    })
}

/// (columns, lines) of the terminal on stdout, if it is one.
fn terminal_size() -> (Option<u16>, usize) {
    // SAFETY: winsize is four integers, valid all zero.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills the winsize `ws` points at, a valid place to write.
    if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
        (Some(ws.ws_col), usize::from(ws.ws_row))
    } else {
        (None, 24)
    }
}
