//! Memray's advice after `memray transform gprof2dot`: how to draw the file, naming the
//! gprof2dot and Graphviz found on this machine (or saying they are missing).

use std::io::Write;
use std::path::{Path, PathBuf};

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
pub fn gprof2dot_hint(path: &Path) {
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
