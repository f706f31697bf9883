//! `memray-stats`: high-level statistics of a capture, as a terminal report or JSON.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;

use memray_tools::output::{create_output, default_output, memray_compat, stdout_is_terminal};
use memray_tools::stats_report::{load, render_json, render_text};

/// Generate high level stats of the memory usage in the terminal.
///
/// Run directly as `memray-stats`, the JSON document goes to stdout whenever stdout is not a
/// terminal and no `-o` is given, so `memray-stats out.bin | jq .` works. Run as `memray stats`
/// (or `python -m memray stats`), it behaves exactly like Memray 1.20: the text report on
/// stdout, and `--json` writes `memray-stats-<capture>.json` beside the capture.
#[derive(Parser)]
#[command(
    name = "memray-stats",
    version,
    after_help = "Reads `-` as standard input."
)]
struct Args {
    /// Results of the tracker run (a capture file, or - for stdin)
    results: String,
    /// Displays the top 'n' largest allocating functions
    #[arg(short = 'n', long = "num-largest", default_value_t = 5, value_parser = positive)]
    num_largest: usize,
    /// Exports stats as JSON
    #[arg(long)]
    json: bool,
    /// Output file name for JSON output
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// If the JSON output file already exists, overwrite it
    #[arg(short, long)]
    force: bool,
}

fn positive(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{v} is an invalid positive int value")),
    }
}

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
