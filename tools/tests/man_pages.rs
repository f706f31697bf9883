//! Every program has a man page (`man/<program>.1`), and the committed pages are exactly what
//! the programs' clap definitions render, so neither a new program nor a changed flag can
//! leave a missing or stale page behind (`make man` regenerates them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn tools_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every program the crate builds: `src/bin/<name>.rs` and each `[[bin]]` of Cargo.toml,
/// except the generators `gen-man` and `gen-completions` (not installed).
fn programs() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(tools_dir().join("src/bin")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            names.insert(path.file_stem().unwrap().to_str().unwrap().to_string());
        }
    }
    let manifest = std::fs::read_to_string(tools_dir().join("Cargo.toml")).unwrap();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let (true, Some(value)) = (in_bin, line.strip_prefix("name")) {
            let name = value.trim_start().trim_start_matches('=').trim();
            names.insert(name.trim_matches('"').to_string());
        }
    }
    names.remove("gen-man");
    names.remove("gen-completions");
    names
}

fn man_dir() -> PathBuf {
    tools_dir().join("../man")
}

fn committed_pages(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().to_string())
        .filter(|n| n.ends_with(".1"))
        .collect()
}

#[test]
fn every_program_has_a_page_definition() {
    let defined: BTreeSet<String> = memray_tools::man::all()
        .iter()
        .map(|c| c.get_name().to_string())
        .collect();
    let programs = programs();
    assert!(programs.contains("memray-stats"), "{programs:?}");
    for p in &programs {
        assert!(
            defined.contains(p),
            "{p} has no man page: add its command to memray_tools::man::all()"
        );
    }
    for d in &defined {
        assert!(
            programs.contains(d),
            "man::all() names {d}, which is not a program"
        );
    }
}

#[test]
fn man_pages_are_up_to_date() {
    let dir = man_dir();
    let pages = memray_tools::man::pages().unwrap();
    for (file, rendered) in &pages {
        let committed = std::fs::read(dir.join(file))
            .unwrap_or_else(|e| panic!("man/{file}: {e} (run `make man`)"));
        assert!(
            committed == *rendered,
            "man/{file} is stale: run `make man`"
        );
    }
    // And no page of a program that is gone.
    let expected: BTreeSet<String> = pages.into_iter().map(|(file, _)| file).collect();
    assert_eq!(
        committed_pages(&dir),
        expected,
        "man/ holds pages of no program (or lacks some): run `make man` and remove the rest"
    );
}

#[test]
fn every_program_definition_is_consistent() {
    for cmd in memray_tools::man::all() {
        cmd.debug_assert();
    }
}
