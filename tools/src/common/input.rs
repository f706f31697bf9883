//! Reading the capture a program is given (a path, or `-` for standard input): Memray's
//! message for a missing file, one read through the shared analyses with a progress bar, the
//! warnings a damaged capture gets, and Memray's refusal of what a pre-aggregated capture
//! cannot give.

use std::path::Path;

use anyhow::{bail, Result};

use memray_analysis::{analyze_with_progress, Analysis, ReplayOptions};
use memray_format::Capture;

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
        super::progress::reading(|progress| analyze_with_progress(&mut capture, opts, progress))?;
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

/// Memray's refusal for what a pre-aggregated capture (`--aggregate`) cannot give, e.g.
/// `what` = "compute statistics using".
pub fn refuse_aggregated(a: &Analysis, what: &str) -> Result<()> {
    if a.header.file_format == memray_format::FileFormat::AggregatedAllocations {
        bail!("Can't {what} a pre-aggregated capture file.");
    }
    Ok(())
}
