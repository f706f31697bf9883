//! `memray-stats`: high-level statistics of a capture, as a terminal report or JSON.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;
use memray_tools::args::stats::Args;

use memray_tools::output::{create_output, default_output, memray_compat, stdout_is_terminal};
use memray_tools::stats_report::{load, render_json, render_text};

fn main() -> ExitCode {
    let args = Args::parse();
    memray_tools::cli::run("memray-stats", || run(args))
}

fn write_json_file(path: &Path, force: bool, doc: &str) -> Result<()> {
    let mut f = create_output(path, force)?;
    f.write_all(doc.as_bytes())?;
    println!("Wrote {}", path.display());
    Ok(())
}

fn run(args: Args) -> Result<()> {
    let compat = memray_compat();
    if args.results != "-" && !Path::new(&args.results).is_file() {
        bail!("No such file: {}", args.results);
    }
    let (analysis, stats) = load(&args.results, args.num_largest)?;
    let tty = stdout_is_terminal();
    let mut stdout = std::io::stdout().lock();
    if compat {
        // Memray's progress bar leaves one empty line behind when stdout is not a terminal.
        if !tty {
            writeln!(stdout)?;
        }
        if args.json {
            let path = args.output.clone().unwrap_or_else(|| {
                default_output(Path::new(&args.results), "memray-stats-", ".json")
            });
            drop(stdout);
            return write_json_file(&path, args.force, &render_json(&analysis, &stats));
        }
        write!(
            stdout,
            "{}",
            render_text(&analysis, &stats, args.num_largest, tty)
        )?;
        return Ok(());
    }
    if let Some(path) = &args.output {
        drop(stdout);
        return write_json_file(path, args.force, &render_json(&analysis, &stats));
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
