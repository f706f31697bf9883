//! What every report starts from: the capture read once through the shared analyses, and the
//! view the user asked for (the peak, the leaks, or the temporary allocations).

use std::path::Path;

use anyhow::{bail, Result};
use clap::Args;

use memray_analysis::snapshot::{aggregate, Aggregate, View};
use memray_analysis::{analyze_with_progress, Analysis, ReplayOptions};
use memray_format::Capture;

/// The view options the reports share (Memray's flags).
#[derive(Args, Debug, Clone, Default)]
pub struct ViewArgs {
    /// Show memory leaks, instead of peak memory usage
    #[arg(long, conflicts_with_all = ["temporary_allocation_threshold", "temporary_allocations"])]
    pub leaks: bool,
    /// Report temporary allocations, as opposed to leaked allocations or high watermark
    /// allocations. An allocation is considered temporary if at most N other allocations
    /// occur before it is deallocated. With N=0, an allocation is temporary only if it is
    /// immediately deallocated before any other allocation occurs.
    #[arg(long, value_name = "N", conflicts_with = "temporary_allocations")]
    pub temporary_allocation_threshold: Option<usize>,
    /// Equivalent to --temporary-allocation-threshold=1
    #[arg(long)]
    pub temporary_allocations: bool,
}

impl ViewArgs {
    pub fn threshold(&self) -> Option<usize> {
        self.temporary_allocation_threshold
            .or(self.temporary_allocations.then_some(1))
    }

    pub fn view(&self) -> View {
        if self.threshold().is_some() {
            View::Temporary
        } else if self.leaks {
            View::Leaks
        } else {
            View::Peak
        }
    }
}

/// Fails with Memray's message unless `path` is `-` or an existing regular file.
pub fn check_input(path: &str) -> Result<()> {
    if path != "-" && !Path::new(path).is_file() {
        bail!("No such file: {path}");
    }
    Ok(())
}

/// Reads the capture once (with a progress bar on a terminal when that takes a while); warns on
/// stderr when it was cut short.
pub fn open_analysis(path: &str, opts: ReplayOptions) -> Result<Analysis> {
    check_input(path)?;
    let mut capture = Capture::open(path)?;
    let analysis =
        crate::progress::reading(|progress| analyze_with_progress(&mut capture, opts, progress))?;
    for w in &analysis.defs.native_symbols.warnings {
        eprintln!("warning: {w}");
    }
    if analysis.trailer.is_none() {
        eprintln!(
            "warning: {path} was cut short (the tracked process did not finish writing it); \
             reporting everything up to its last complete chunk"
        );
    }
    Ok(analysis)
}

/// The capture and the groups of the chosen view.
pub fn load_view(
    path: &str,
    v: &ViewArgs,
    merge_threads: bool,
) -> Result<(Analysis, Vec<Aggregate>)> {
    let a = open_analysis(
        path,
        ReplayOptions {
            temporary_threshold: v.threshold(),
            ..Default::default()
        },
    )?;
    if v.view() == View::Temporary {
        refuse_aggregated(&a, "find temporary allocations using")?;
    }
    let groups = aggregate(&a, v.view(), merge_threads);
    Ok((a, groups))
}

/// Memray's refusal for what a pre-aggregated capture (`--aggregate`) cannot give, e.g.
/// `what` = "compute statistics using".
pub fn refuse_aggregated(a: &Analysis, what: &str) -> Result<()> {
    if a.header.file_format == memray_format::FileFormat::AggregatedAllocations {
        bail!("Can't {what} a pre-aggregated capture file.");
    }
    Ok(())
}
