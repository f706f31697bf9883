//! Reading the capture a program is given (a path, `-` for standard input, or a directory: a
//! capture set, one capture per process of a tree): Memray's message for a missing file, one
//! read through the shared analyses with a progress bar, the warnings a damaged capture gets,
//! the merge of a set (`memray_analysis::process_set`) or the one process `--pid` picks, and
//! Memray's refusal of what a pre-aggregated capture cannot give.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use memray_analysis::{analyze_with_progress, process_set, Analysis, ReplayOptions};
use memray_format::error::FormatError;
use memray_format::Capture;

/// Fails with Memray's message unless `path` is `-`, an existing regular file or a directory
/// (a capture set).
pub fn check_input(path: &str) -> Result<()> {
    let p = Path::new(path);
    if path != "-" && !p.is_file() && !p.is_dir() {
        bail!("No such file: {path}");
    }
    Ok(())
}

/// Fails with Memray's message unless `path` is `-` or an existing regular file (for what
/// reads one capture only).
pub fn check_file(path: &str) -> Result<()> {
    if path != "-" && !Path::new(path).is_file() {
        bail!("No such file: {path}");
    }
    Ok(())
}

/// The captures in directory `dir` (files that are not captures, such as reports written
/// beside them, are passed over), by name.
pub fn set_members(dir: &Path) -> Result<Vec<(PathBuf, u32)>> {
    let mut members = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("could not read {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for path in paths {
        match Capture::open(&path.to_string_lossy()) {
            Ok(c) => members.push((path, c.header().pid)),
            Err(FormatError::Empty | FormatError::BadMagic) => {}
            Err(e) => bail!("{}: {e}", path.display()),
        }
    }
    if members.is_empty() {
        bail!("{}: no memray captures in this directory", dir.display());
    }
    Ok(members)
}

/// Reads the capture (or capture set) once; `pid` picks one process of a set.
pub fn open_selected(path: &str, opts: ReplayOptions, pid: Option<u32>) -> Result<Analysis> {
    check_input(path)?;
    let dir = Path::new(path);
    if path == "-" || !dir.is_dir() {
        let a = open_analysis(path, opts)?;
        if let Some(pid) = pid.filter(|&p| p != a.header.pid) {
            bail!(
                "{path} is the capture of process {}, not {pid}",
                a.header.pid
            );
        }
        return Ok(a);
    }
    let members = set_members(dir)?;
    if let Some(pid) = pid {
        let Some((one, _)) = members.iter().find(|(_, p)| *p == pid) else {
            let pids: Vec<String> = members.iter().map(|(_, p)| p.to_string()).collect();
            bail!(
                "{path} has no capture of process {pid} (it has {})",
                pids.join(", ")
            );
        };
        return open_analysis(&one.to_string_lossy(), opts);
    }
    if opts.temporal_peaks || opts.lifetimes {
        bail!("a temporal view takes one process of a capture set: add --pid N");
    }
    let mut analyses = Vec::with_capacity(members.len());
    for (member, _) in &members {
        let name = member.to_string_lossy().into_owned();
        let one = ReplayOptions {
            temporal_peaks: true,
            ..opts
        };
        analyses.push((name.clone(), open_analysis(&name, one)?));
    }
    Ok(process_set::merge(analyses))
}

/// Reads one capture once (with a progress bar on a terminal when that takes a while); warns
/// on stderr when it was cut short.
pub fn open_analysis(path: &str, opts: ReplayOptions) -> Result<Analysis> {
    if Path::new(path).is_dir() {
        return open_selected(path, opts, None);
    }
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
