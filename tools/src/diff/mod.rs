//! `memray-diff` (`memray diff`): two captures compared, for finding what made memory worse and
//! for gating it in CI. [`args`] is the command line, [`gate`] the thresholds and their checks,
//! [`report`] the terminal report and the JSON document, [`html`] the differential flame graph,
//! over `memray_analysis::diff`.

pub mod args;
pub mod gate;
pub mod html;
pub mod report;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};

use memray_analysis::diff::{check_comparable, diff, Match, Measure};
use memray_analysis::ReplayOptions;

use crate::common::cli::{self, memray_compat};
use crate::common::input::{check_input, open_selected};
use crate::common::output::stdout_is_terminal;
pub use args::Args;
use args::{DiffFormat, MatchArg};

/// The program: exit status 0; 1 when a `--fail-if-...` threshold was exceeded (the offending
/// lines on stderr) or with one line on stderr for an error.
pub fn main(args: Args) -> ExitCode {
    let mut failed = false;
    let code = cli::run("memray-diff", || {
        failed = run(&args)?;
        Ok(())
    });
    if failed {
        ExitCode::from(1)
    } else {
        code
    }
}

impl Args {
    fn measure(&self) -> Measure {
        if self.allocated {
            Measure::Allocated
        } else if self.temporary_threshold().is_some() {
            Measure::Temporary
        } else if self.leaks {
            Measure::Leaks
        } else {
            Measure::Peak
        }
    }

    fn temporary_threshold(&self) -> Option<usize> {
        self.temporary_allocation_threshold
            .or(self.temporary_allocations.then_some(1))
    }

    fn matching(&self) -> Match {
        match self.matching {
            MatchArg::File => Match::File,
            MatchArg::Line => Match::Line,
            MatchArg::Function => Match::Function,
        }
    }
}

/// Compares and reports; true when a gate failed.
fn run(args: &Args) -> Result<bool> {
    for path in [&args.base, &args.new] {
        if path == "-" {
            bail!("memray-diff reads two captures from files: - (standard input) is not one");
        }
        check_input(path)?;
    }
    if args.format == DiffFormat::Html && args.out.output.is_none() {
        bail!("--format html writes a page: give it a file with -o");
    }
    let opts = ReplayOptions {
        temporary_threshold: args.temporary_threshold(),
        ..Default::default()
    };
    let base = open_selected(std::slice::from_ref(&args.base), opts, None)?;
    let new = open_selected(std::slice::from_ref(&args.new), opts, None)?;
    let measure = args.measure();
    check_comparable(&base, &new, measure)?;
    let d = diff(&base, &new, measure, args.matching());
    let failures = gate::check(
        &d,
        args.fail_if_peak_grows,
        args.fail_if_leaks_grow,
        args.fail_if_location_grows,
    );
    let tty = stdout_is_terminal();
    let json = args.json || args.out.output.is_some() || (!tty && !memray_compat());
    if let Some(path) = &args.out.output {
        args.out.check(path)?;
        let doc = if args.format == DiffFormat::Html {
            html::page(&args.base, &base, &args.new, &new, measure)?
        } else {
            report::render_json(&d, &args.base, &base, &args.new, &new, &failures)
        };
        args.out.write(path, doc.as_bytes())?;
    } else {
        let text = if json {
            report::render_json(&d, &args.base, &base, &args.new, &new, &failures) + "\n"
        } else {
            report::render_text(&d, &args.base, &base, &args.new, &new, args.top, &failures)
        };
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
    }
    // The offending lines go to stderr as well, so a CI log shows them whatever stdout is.
    for f in &failures {
        eprintln!(
            "memray-diff: {}",
            crate::common::terminal::for_terminal(&f.message)
        );
    }
    Ok(!failures.is_empty())
}
