//! Where a program's output goes: stdout or a file that is never overwritten without `--force`
//! and never written through a symlink planted at its path.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// True when the program was started as `memray <cmd>` or `python -m memray <cmd>`, which
/// promise Memray's exact behaviour; false when run directly as `memray-<cmd>`.
pub fn memray_compat() -> bool {
    std::env::var_os("MEMRAY_COMPAT").is_some_and(|v| v == "1")
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
