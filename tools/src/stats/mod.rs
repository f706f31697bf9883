//! `memray-stats` (`memray stats`): high-level statistics of a capture, as Memray's terminal
//! report or its JSON document. [`args`] is the command line, [`report`] renders the figures
//! of `memray_analysis::stats`; this module decides where they go.

pub mod args;
pub mod report;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::common::cli::{self, memray_compat};
use crate::common::input::check_input;
use crate::common::output::{default_output, stdout_is_terminal};
pub use args::Args;
use report::{load, render_json, render_text};

/// The program: exit status 0, or 1 with one line on stderr.
pub fn main(args: Args) -> ExitCode {
    cli::run("memray-stats", || run(args))
}

fn run(args: Args) -> Result<()> {
    let compat = memray_compat();
    check_input(&args.results)?;
    let (analysis, stats) = load(&args.results, args.num_largest, args.pid)?;
    let tty = stdout_is_terminal();
    let mut stdout = std::io::stdout().lock();
    if compat {
        // Memray's progress bar leaves one empty line behind when stdout is not a terminal.
        if !tty {
            writeln!(stdout)?;
        }
        if args.json {
            let path = args
                .out
                .path_or(|| default_output(Path::new(&args.results), "memray-stats-", ".json"));
            drop(stdout);
            return args
                .out
                .write(&path, render_json(&analysis, &stats).as_bytes());
        }
        write!(
            stdout,
            "{}",
            render_text(&analysis, &stats, args.num_largest, tty)
        )?;
        return Ok(());
    }
    if let Some(path) = &args.out.output {
        drop(stdout);
        return args
            .out
            .write(path, render_json(&analysis, &stats).as_bytes());
    }
    if args.json || !tty {
        writeln!(stdout, "{}", render_json(&analysis, &stats))?;
    } else {
        write!(
            stdout,
            "{}",
            render_text(&analysis, &stats, args.num_largest, tty)
        )?;
    }
    Ok(())
}
