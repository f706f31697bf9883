//! `memray-transform` (`memray transform`): the allocations of one view (peak, leaks or
//! temporary allocations) of a capture, exported for other tools. `csv`, `gprof2dot` and
//! `speedscope` are Memray's formats, byte for byte; `folded` (collapsed stacks) and `pprof`
//! (gzipped `profile.proto`, messages in [`profile_proto`]) are ours. [`args`] is the command
//! line; this module picks the destination and holds what every format shares; [`hint`] is
//! Memray's advice after a gprof2dot export.
//!
//! Every format walks the same groups (`memray_analysis::snapshot::aggregate`) and the
//! same stacks (`memray_analysis::frames::visible_frames`, Memray's main-thread rule).

pub mod args;
pub mod csv;
pub mod folded;
pub mod gprof2dot;
pub mod hint;
pub mod pprof;
pub mod profile_proto;
pub mod speedscope;

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::CommandFactory;

use memray_analysis::frames::visible_frames;
use memray_analysis::snapshot::{Aggregate, View};
use memray_analysis::{Analysis, Frame};

use crate::common::cli::{self, memray_compat};
use crate::common::input::{check_input, check_inputs};
use crate::common::output::{report_output, stdout_is_terminal};
use crate::common::view::load_view;
pub use args::Args;

/// The export formats, in the order `--help` lists them (Memray's first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gprof2dot,
    Csv,
    Speedscope,
    Folded,
    Pprof,
    /// Two captures' collapsed stacks side by side (`stack BEFORE AFTER`), as
    /// `inferno-diff-folded` writes them for `inferno-flamegraph`'s differential graphs.
    DiffFolded,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Gprof2dot,
        Format::Csv,
        Format::Speedscope,
        Format::Folded,
        Format::Pprof,
        Format::DiffFolded,
    ];

    /// The format named `name`, in any case (as Memray accepts it).
    pub fn parse(name: &str) -> Option<Format> {
        let lower = name.to_lowercase();
        Self::ALL.into_iter().find(|f| f.name() == lower)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Gprof2dot => "gprof2dot",
            Format::Csv => "csv",
            Format::Speedscope => "speedscope",
            Format::Folded => "folded",
            Format::Pprof => "pprof",
            Format::DiffFolded => "diff-folded",
        }
    }

    /// The suffix of the default output file (Memray's `SUFFIX_MAP`, then ours).
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Gprof2dot => ".json",
            Format::Csv => ".csv",
            Format::Speedscope => ".speedscope.json",
            Format::Folded => ".folded",
            Format::Pprof => ".pb.gz",
            Format::DiffFolded => ".diff.folded",
        }
    }

    /// True for formats that are not text (never written to a terminal).
    pub fn is_binary(self) -> bool {
        self == Format::Pprof
    }

    /// Whether the groups are merged across threads. Memray's transforms only support merged
    /// threads; pprof keeps one sample per thread and labels it with the thread.
    pub fn merge_threads(self) -> bool {
        self != Format::Pprof
    }

    /// `gprof2dot, csv, speedscope, folded, pprof`.
    pub fn list() -> String {
        Self::ALL.map(Format::name).join(", ")
    }
}

/// What is exported: the capture's analysis, the view, and its groups of allocations.
pub struct Export<'a> {
    pub analysis: &'a Analysis,
    pub view: View,
    pub groups: &'a [Aggregate],
}

impl<'a> Export<'a> {
    /// The frames of a group's stack as Memray's `stack_trace()` returns them: innermost
    /// first, without the main thread's hidden outermost frames.
    pub fn frames(&self, g: &Aggregate) -> Vec<Frame<'a>> {
        visible_frames(self.analysis, g.stack, g.native_stack, g.thread)
    }

    /// The thread's last recorded name, or "".
    pub fn thread_name(&self, thread: u32) -> &'a str {
        self.analysis.defs.thread_name(thread).unwrap_or("")
    }
}

/// The frame name collapsed-stack and pprof consumers show for an allocation without any
/// Python frame (so every byte of the view is accounted for).
pub const NO_STACK: &str = "<stack trace unavailable>";

/// Writes `export` in `format` to `out`.
pub fn render(format: Format, export: &Export, out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Csv => csv::render(export, out),
        Format::Gprof2dot => gprof2dot::render(export, out),
        Format::Speedscope => speedscope::render(export, out),
        Format::Folded => folded::render(export, out),
        Format::Pprof => pprof::render(export, out),
        Format::DiffFolded => unreachable!("diff-folded renders two captures: see run"),
    }
}

/// The program: an unknown format is a usage error (exit 2; in Memray's spelling, one line and
/// exit 1); otherwise exit status 0, or 1 with one line on stderr.
pub fn main(args: Args) -> ExitCode {
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
    cli::run("memray-transform", || run(args, format, compat))
}

enum Destination {
    Stdout,
    File(PathBuf),
}

fn run(args: Args, format: Format, compat: bool) -> Result<()> {
    if format == Format::DiffFolded {
        if args.results.len() != 2 {
            bail!("diff-folded compares two captures: give BASE and NEW");
        }
        args.results.iter().try_for_each(|p| check_input(p))?;
    } else {
        check_inputs(&args.results)?;
    }
    let tty = stdout_is_terminal();
    let dest = match &args.out.output {
        Some(p) if p.as_os_str() == "-" => Destination::Stdout,
        Some(p) => Destination::File(p.clone()),
        None if !compat && !tty => Destination::Stdout,
        None => Destination::File(report_output(
            &args.results[0],
            format.name(),
            format.suffix(),
        )),
    };
    match &dest {
        Destination::File(path) => args.out.check(path)?,
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
    let load = |paths: &[String]| {
        load_view(paths, &args.view, format.merge_threads())
            .with_context(|| format!("Failed to parse allocation records in {}", paths[0]))
    };
    let first = match format {
        Format::DiffFolded => &args.results[..1],
        _ => &args.results[..],
    };
    let (analysis, groups) = load(first)?;
    let export = Export {
        analysis: &analysis,
        view: args.view.view(),
        groups: &groups,
    };
    // diff-folded: the second capture's lines beside the first's.
    let after = match format {
        Format::DiffFolded => {
            let (a, g) = load(&args.results[1..])?;
            folded::lines(&Export {
                analysis: &a,
                view: args.view.view(),
                groups: &g,
            })
        }
        _ => Vec::new(),
    };
    let write = |out: &mut dyn Write| match format {
        Format::DiffFolded => folded::write_diff(&folded::lines(&export), &after, out),
        _ => render(format, &export, out),
    };
    match dest {
        Destination::Stdout => {
            let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            write(&mut out)?;
            out.flush()?;
        }
        Destination::File(path) => {
            let file = args.out.create(&path)?;
            let mut out = BufWriter::with_capacity(1 << 16, file);
            write(&mut out)?;
            out.flush()
                .with_context(|| format!("could not write {}", path.display()))?;
            println!("Wrote {}", path.display());
            if compat && format == Format::Gprof2dot {
                hint::gprof2dot_hint(&path);
            }
        }
    }
    Ok(())
}
