//! The committed shell completions (`completions/<shell>/`) are exactly what the programs' clap
//! definitions generate, for every program and shell, and `memray`'s completes each command's
//! own options (`make completions` regenerates them).

use std::collections::BTreeSet;
use std::path::PathBuf;

fn completions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../completions")
}

fn committed_files() -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for shell in std::fs::read_dir(completions_dir()).unwrap() {
        let shell = shell.unwrap();
        for f in std::fs::read_dir(shell.path()).unwrap() {
            let name = f.unwrap().file_name().into_string().unwrap();
            files.insert(format!("{}/{name}", shell.file_name().to_str().unwrap()));
        }
    }
    files
}

#[test]
fn completions_are_up_to_date() {
    let scripts = memray_tools::completions::scripts();
    for (file, text) in &scripts {
        let committed = std::fs::read(completions_dir().join(file))
            .unwrap_or_else(|e| panic!("completions/{file}: {e} (run `make completions`)"));
        assert!(
            committed == *text,
            "completions/{file} is stale: run `make completions`"
        );
    }
    let expected: BTreeSet<String> = scripts.into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        committed_files(),
        expected,
        "completions/ holds scripts of no program (or lacks some): run `make completions`"
    );
}

#[test]
fn every_program_has_a_script_for_every_shell() {
    let files: BTreeSet<String> = memray_tools::completions::scripts()
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    for program in memray_tools::man::all() {
        let name = program.get_name();
        for file in [
            format!("bash/{name}"),
            format!("zsh/_{name}"),
            format!("fish/{name}.fish"),
        ] {
            assert!(files.contains(&file), "no {file} in {files:?}");
        }
    }
}

#[test]
fn memray_completes_every_command_and_its_options() {
    let memray = memray_tools::completions::memray_command();
    memray.clone().debug_assert();
    let commands: BTreeSet<&str> = memray.get_subcommands().map(|c| c.get_name()).collect();
    for cmd in [
        "run",
        "stats",
        "flamegraph",
        "table",
        "tree",
        "summary",
        "live",
        "transform",
        "parse",
        "diff",
    ] {
        assert!(
            commands.contains(cmd),
            "memray's completion lacks {cmd}: {commands:?}"
        );
    }
    let stats = memray.find_subcommand("stats").unwrap();
    assert!(stats.get_arguments().any(|a| a.get_long() == Some("json")));
    let run = memray.find_subcommand("run").unwrap();
    assert!(run
        .get_arguments()
        .any(|a| a.get_long() == Some("trace-python-allocators")));
}
