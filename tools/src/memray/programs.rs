//! Finding `memray-<cmd>` programs: beside the running executable first, then on `PATH`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

/// The path of `memray-<name>`, if one is installed.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') {
        return None;
    }
    search_dirs()
        .into_iter()
        .map(|d| d.join(format!("memray-{name}")))
        .find(|p| is_executable(p))
}

/// The `memray` commands `memray-capture` runs (its subcommands); every other command `X` is
/// the program `memray-X`.
pub const CAPTURE_COMMANDS: &[&str] = &["run", "attach", "detach"];

/// Every installed command ([`CAPTURE_COMMANDS`] for `memray-capture`), with the first path found for each.
pub fn installed_commands() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for dir in search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut here: Vec<(String, PathBuf)> = entries
            .flatten()
            .flat_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let cmds: Vec<String> = match name.strip_prefix("memray-") {
                    Some("capture") => CAPTURE_COMMANDS.iter().map(|c| c.to_string()).collect(),
                    Some(cmd) => vec![cmd.to_string()],
                    None => Vec::new(),
                };
                let path = e.path();
                let runnable = is_executable(&path);
                cmds.into_iter()
                    .filter(move |_| runnable)
                    .map(move |c| (c, path.clone()))
            })
            .collect();
        here.sort();
        for (cmd, p) in here {
            if !found.iter().any(|(c, _)| *c == cmd) {
                found.push((cmd, p));
            }
        }
    }
    found.sort();
    found
}
