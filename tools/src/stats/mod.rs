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
use crate::common::output::{default_output, print_heading, stdout_is_terminal};
pub use args::Args;
use report::{load, load_each, render_json, render_text};

/// The program: exit status 0, or 1 with one line on stderr.
pub fn main(args: Args) -> ExitCode {
    cli::run("memray-stats", || run(args))
}

fn run(args: Args) -> Result<()> {
    if args.by_process && args.pid.is_none() {
        return run_by_process(&args);
    }
    let compat = memray_compat();
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
                .path_or(|| default_output(Path::new(&args.results[0]), "memray-stats-", ".json"));
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

/// `--by-process`: the text report of each process under its heading, or (as JSON) an array
/// of the processes' documents, in order of start.
fn run_by_process(args: &Args) -> Result<()> {
    let sections = load_each(&args.results, args.num_largest)?;
    let tty = stdout_is_terminal();
    let json = args.out.output.is_some() || args.json || (!tty && !memray_compat());
    if json {
        let docs: Vec<String> = sections.iter().map(|(_, a, s)| render_json(a, s)).collect();
        let doc = format!("[{}]", docs.join(","));
        let path = match &args.out.output {
            Some(path) => Some(path.clone()),
            None if memray_compat() => Some(default_output(
                Path::new(&args.results[0]),
                "memray-stats-",
                ".json",
            )),
            None => None,
        };
        if let Some(path) = path {
            return args.out.write(&path, doc.as_bytes());
        }
        println!("{doc}");
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    for (heading, a, s) in &sections {
        stdout.flush()?;
        print_heading(heading.as_deref(), tty);
        write!(stdout, "{}", render_text(a, s, args.num_largest, tty))?;
        writeln!(stdout)?;
    }
    Ok(())
}
