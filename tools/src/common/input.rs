//! Reading the captures a program is given (a path, `-` for standard input, or a capture set:
//! a directory or several files, one capture per process of a tree): Memray's message for a
//! missing file, one read through the shared analyses with a progress bar, the warnings a
//! damaged capture gets, the merge of a set (`memray_analysis::process_set`), the one process
//! `--pid` picks or each process alone (`--by-process`), and Memray's refusal of what a
//! pre-aggregated capture cannot give.

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

/// [`check_input`] for a capture, or every file of a capture set given as several files.
pub fn check_inputs(paths: &[String]) -> Result<()> {
    match paths {
        [one] => check_input(one),
        several => several.iter().try_for_each(|p| check_file(p)),
    }
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

/// The members of the capture set `paths` names (a directory, or several capture files), or
/// None when it names one capture (a file, or `-`).
fn set_of(paths: &[String]) -> Result<Option<Vec<(PathBuf, u32)>>> {
    match paths {
        [] => bail!("no capture given"),
        [one] => {
            check_input(one)?;
            let dir = Path::new(one);
            if one == "-" || !dir.is_dir() {
                return Ok(None);
            }
            set_members(dir).map(Some)
        }
        several => {
            let mut members = Vec::with_capacity(several.len());
            for path in several {
                if path == "-" {
                    bail!("standard input (-) cannot be one of several captures");
                }
                check_file(path)?;
                let c = Capture::open(path).with_context(|| path.clone())?;
                members.push((PathBuf::from(path), c.header().pid));
            }
            Ok(Some(members))
        }
    }
}

/// Whether `paths` names a capture set (a directory, or several files) rather than one capture.
pub fn is_set(paths: &[String]) -> bool {
    paths.len() > 1 || paths.iter().any(|p| p != "-" && Path::new(p).is_dir())
}

/// What names the captures in messages: the one path, or the first and how many more.
fn describe(paths: &[String]) -> String {
    match paths {
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
        [] => String::new(),
    }
}

/// Reads the capture, or the capture set (a directory, or several files), once; `pid` picks
/// one process of a set.
pub fn open_selected(paths: &[String], opts: ReplayOptions, pid: Option<u32>) -> Result<Analysis> {
    let Some(members) = set_of(paths)? else {
        let path = &paths[0];
        let a = open_analysis(path, opts)?;
        if let Some(pid) = pid.filter(|&p| p != a.header.pid) {
            bail!(
                "{path} is the capture of process {}, not {pid}",
                a.header.pid
            );
        }
        return Ok(a);
    };
    if let Some(pid) = pid {
        let Some((one, _)) = members.iter().find(|(_, p)| *p == pid) else {
            let pids: Vec<String> = members.iter().map(|(_, p)| p.to_string()).collect();
            bail!(
                "{} has no capture of process {pid} (it has {})",
                describe(paths),
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

/// `--by-process`: each process of the capture set alone, in order of start, with the line
/// that heads its section; one capture gives one section without a heading.
pub fn open_each(paths: &[String], opts: ReplayOptions) -> Result<Vec<(Option<String>, Analysis)>> {
    let Some(members) = set_of(paths)? else {
        return Ok(vec![(None, open_analysis(&paths[0], opts)?)]);
    };
    let mut sections = Vec::with_capacity(members.len());
    for (member, _) in &members {
        let name = member.to_string_lossy().into_owned();
        let a = open_analysis(&name, opts)?;
        sections.push((Some(process_heading(&name, &a)), a));
    }
    sections.sort_by_key(|(_, a)| (a.header.start_time_ms, a.header.pid));
    Ok(sections)
}

/// "Process 4242 (parent 4200): python child.py [out.bin.4242]", with " — cut short" when the
/// process did not finish its capture.
fn process_heading(path: &str, a: &Analysis) -> String {
    let h = &a.header;
    let parent = if h.parent_pid != 0 {
        format!(" (parent {})", h.parent_pid)
    } else {
        String::new()
    };
    let cut = if a.trailer.is_none() {
        " — cut short"
    } else {
        ""
    };
    format!(
        "Process {}{parent}: {} [{path}]{cut}",
        h.pid, h.command_line
    )
}

/// Reads one capture once (with a progress bar on a terminal when that takes a while); warns
/// on stderr when it was cut short.
pub fn open_analysis(path: &str, opts: ReplayOptions) -> Result<Analysis> {
    if Path::new(path).is_dir() {
        return open_selected(&[path.to_string()], opts, None);
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
