//! Where a program's output goes: stdout or a file that is never overwritten without `--force`
//! and never written through a symlink planted at its path, and Memray's default file names.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Memray's default report name: `<prefix><capture name minus a leading "memray-"><suffix>`,
/// beside the capture.
pub fn default_output(capture: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let name = capture
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stdin".into());
    let name = format!("{name}{suffix}");
    let name = name.strip_prefix("memray-").unwrap_or(&name);
    capture.with_file_name(format!("{prefix}{name}"))
}

/// Fails with Memray's message when `path` exists and `force` is off.
pub fn check_overwrite(path: &Path, force: bool) -> Result<()> {
    if !force && path.symlink_metadata().is_ok() {
        bail!(
            "File already exists, will not overwrite without --force: {}",
            path.display()
        );
    }
    Ok(())
}

/// Creates `path` for writing. Without `force` it must not exist; with it, an existing file is
/// replaced (a symlink at the path is removed, not followed).
pub fn create_output(path: &Path, force: bool) -> Result<File> {
    check_overwrite(path, force)?;
    if force {
        if let Ok(meta) = path.symlink_metadata() {
            if meta.file_type().is_symlink() {
                std::fs::remove_file(path)
                    .with_context(|| format!("could not replace {}", path.display()))?;
            }
        }
    }
    let mut opts = OpenOptions::new();
    opts.write(true).mode(0o644).custom_flags(libc::O_NOFOLLOW);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    opts.open(path)
        .with_context(|| format!("could not create {}", path.display()))
}

/// Python's `PurePath.suffix` of a file name: from the last dot, unless the dot starts the
/// name or ends it.
fn python_suffix(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => &name[i..],
        _ => "",
    }
}

/// Memray's reporter output name (`HighWatermarkCommand.determine_output_filename`): the
/// capture's name with its last suffix replaced by `suffix`, minus a leading `memray-`, after
/// `memray-<reporter>-`, beside the capture. Standard input (`-`) is named `stdin`, in the
/// current directory.
pub fn report_output(capture: &str, reporter: &str, suffix: &str) -> PathBuf {
    let path = Path::new(capture);
    let name = match path.file_name() {
        Some(n) if capture != "-" => n.to_string_lossy().into_owned(),
        _ => "stdin".to_string(),
    };
    let stem = &name[..name.len() - python_suffix(&name).len()];
    let renamed = format!("{stem}{suffix}");
    let renamed = renamed.strip_prefix("memray-").unwrap_or(&renamed);
    let file = format!("memray-{reporter}-{renamed}");
    if capture == "-" {
        PathBuf::from(file)
    } else {
        path.with_file_name(file)
    }
}

/// Prints the line that heads one process's section of a `--by-process` report (bold on a
/// terminal; the command line in it is the profiled program's, so control characters are
/// escaped). Nothing for a report without sections.
pub fn print_heading(heading: Option<&str>, tty: bool) {
    let Some(heading) = heading else { return };
    let text = super::terminal::for_terminal(heading);
    if tty {
        println!("\x1b[1m== {text} ==\x1b[0m");
    } else {
        println!("== {text} ==");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_match_memray() {
        let n = |c: &str, r: &str, s: &str| report_output(c, r, s).display().to_string();
        assert_eq!(
            n("memray-demo.py.3943.bin", "csv", ".csv"),
            "memray-csv-demo.py.3943.csv"
        );
        assert_eq!(
            n(
                "runs/memray-demo.py.1.bin",
                "speedscope",
                ".speedscope.json"
            ),
            "runs/memray-speedscope-demo.py.1.speedscope.json"
        );
        assert_eq!(
            n("cap.bin", "gprof2dot", ".json"),
            "memray-gprof2dot-cap.json"
        );
        assert_eq!(n("noext", "csv", ".csv"), "memray-csv-noext.csv");
        assert_eq!(n(".hidden", "csv", ".csv"), "memray-csv-.hidden.csv");
        assert_eq!(n("trail.", "csv", ".csv"), "memray-csv-trail..csv");
        assert_eq!(n("-", "pprof", ".pb.gz"), "memray-pprof-stdin.pb.gz");
    }
}
