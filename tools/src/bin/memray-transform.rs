//! `memray-transform`: exports a view of a capture as csv, gprof2dot, speedscope, folded or
//! pprof.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser};

use memray_tools::args::transform::Args;
use memray_tools::output::{
    check_overwrite, create_output, memray_compat, report_output, stdout_is_terminal,
};
use memray_tools::transform::{render, Export, Format};
use memray_tools::view::{check_input, load_view};

fn main() -> ExitCode {
    let args = Args::parse();
    let compat = memray_compat();
    let Some(format) = Format::parse(&args.format) else {
        if compat {
            // Memray: an unknown format is an error (exit 1), not a usage error.
            eprintln!("Format not supported: {}", args.format);
            return ExitCode::from(1);
        }
        Args::command()
            .error(
                clap::error::ErrorKind::InvalidValue,
                format!(
                    "Format not supported: {} (available formats: {})",
                    args.format,
                    Format::list()
                ),
            )
            .exit();
    };
    memray_tools::cli::run("memray-transform", || run(args, format, compat))
}

enum Destination {
    Stdout,
    File(PathBuf),
}

fn run(args: Args, format: Format, compat: bool) -> Result<()> {
    check_input(&args.results)?;
    let tty = stdout_is_terminal();
    let dest = match &args.output {
        Some(p) if p.as_os_str() == "-" => Destination::Stdout,
        Some(p) => Destination::File(p.clone()),
        None if !compat && !tty => Destination::Stdout,
        None => Destination::File(report_output(&args.results, format.name(), format.suffix())),
    };
    match &dest {
        Destination::File(path) => check_overwrite(path, args.force)?,
        Destination::Stdout if tty && format.is_binary() => {
            bail!(
                "refusing to write binary {} data to a terminal: use -o FILE or a pipe",
                format.name()
            )
        }
        Destination::Stdout => {}
    }
    if compat && !tty && matches!(dest, Destination::File(_)) {
        // Memray's two progress bars (reading, then aggregating) each leave an empty line
        // behind when stdout is not a terminal.
        print!("\n\n");
    }
    let (analysis, groups) = load_view(&args.results, &args.view, format.merge_threads())
        .with_context(|| format!("Failed to parse allocation records in {}", args.results))?;
    let export = Export {
        analysis: &analysis,
        view: args.view.view(),
        groups: &groups,
    };
    match dest {
        Destination::Stdout => {
            let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            render(format, &export, &mut out)?;
            out.flush()?;
        }
        Destination::File(path) => {
            let file = create_output(&path, args.force)?;
            let mut out = BufWriter::with_capacity(1 << 16, file);
            render(format, &export, &mut out)?;
            out.flush()
                .with_context(|| format!("could not write {}", path.display()))?;
            println!("Wrote {}", path.display());
            if compat && format == Format::Gprof2dot {
                gprof2dot_hint(&path);
            }
        }
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// The interpreter `python -m memray` ran under (or the one beside this program), if it can
/// import gprof2dot: Memray then suggests `python -m gprof2dot`.
fn python_with_gprof2dot() -> Option<String> {
    let python = std::env::var_os("MEMRAY_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
            ["python3", "python"]
                .map(|n| dir.join(n))
                .into_iter()
                .find(|p| p.is_file())
        })?;
    let found = std::process::Command::new(&python)
        .args([
            "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec('gprof2dot') is None)",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?
        .success();
    found.then(|| format!("{} -m gprof2dot", python.display()))
}

/// Memray's advice after a gprof2dot transform (rich wraps it at 80 columns when stdout is not
/// a terminal; the lines below are that wrapping).
fn gprof2dot_hint(path: &Path) {
    let mut command = String::new();
    if on_path("gprof2dot") {
        command = "gprof2dot".into();
    } else if let Some(c) = python_with_gprof2dot() {
        command = c;
    } else {
        println!(
            "\u{2757} gprof2dot doesn't seem to be installed. Please install it to be able to \n\
             process the transform.\n\
             \u{1f449} Check out https://github.com/jrfonseca/gprof2dot for installation \n\
             instructions"
        );
    }
    if !on_path("dot") {
        println!(
            "\u{2757} Graphviz doesn't seem to be installed. Please install it to be able to \n\
             process the transform.\n\
             \u{1f449} Check out https://graphviz.org/download/ for installation instructions"
        );
    }
    println!();
    println!("To generate a graph from the transform file, run for example:");
    println!(
        "{command} -f json {} | dot -Tpng -o output.png",
        path.display()
    );
    let _ = std::io::stdout().flush();
}
