//! `memray`, the dispatcher: its version, its help (listing the programs installed beside it),
//! and its usage errors. What it runs is tested with each program (`memray stats`, `memray
//! transform`, `memray flamegraph`, ...).

mod common;

use common::{assert_ok_quiet, run, Out};
use tempfile::TempDir;

const MEMRAY: &str = env!("CARGO_BIN_EXE_memray");

/// `memray ARGS`, stdout a pipe.
fn memray(dir: &std::path::Path, args: &[&str]) -> Out {
    run(MEMRAY, dir, args)
}

#[test]
fn dispatcher_version_help_and_unknown_command() {
    let dir = TempDir::new().unwrap();
    let o = memray(dir.path(), &["--version"]);
    assert_ok_quiet(&o);
    assert_eq!(o.stdout, format!("{}\n", env!("CARGO_PKG_VERSION")));
    let o = memray(dir.path(), &["-V"]);
    assert_ok_quiet(&o);
    assert_eq!(o.stdout, format!("{}\n", env!("CARGO_PKG_VERSION")));

    for flag in ["--help", "-h"] {
        let o = memray(dir.path(), &[flag]);
        assert_ok_quiet(&o);
        assert!(o.stdout.starts_with("usage: memray "), "{}", o.stdout);
        assert!(
            o.stdout.contains("Memory profiler for Python applications"),
            "{}",
            o.stdout
        );
        assert!(
            o.stdout.lines().any(|l| l.trim() == "stats"),
            "stats is not listed:\n{}",
            o.stdout
        );
    }

    let o = memray(dir.path(), &["nosuchcmd"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "");
    // The usage line, then one error line naming the command (as argparse reports a choice).
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", o.stderr);
    assert!(lines[0].starts_with("usage: memray "), "{}", o.stderr);
    assert!(lines[1].starts_with("memray: error: "), "{}", o.stderr);
    assert!(lines[1].contains("nosuchcmd"), "{}", o.stderr);

    let o = memray(dir.path(), &["--bogus", "stats"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        "usage: memray [-h] [-V] <command> [args...]\nmemray: error: unrecognized arguments: --bogus\n"
    );

    let o = memray(dir.path(), &[]);
    assert_eq!(o.code, 2);
    assert!(o
        .stderr
        .contains("the following arguments are required: command"));
}
