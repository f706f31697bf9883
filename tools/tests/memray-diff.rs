//! `memray-diff`: a capture against itself changes nothing, against another program every
//! location is new or gone; the gates; every bad input one clear line. (The exact figures of a
//! program changed between two runs are in tests/test_diff.py, on real captures.)

mod common;

use common::demo::{bad_inputs, write_capture};
use common::{assert_one_line_error, ok, run};
use serde_json::Value;

const DIFF: &str = env!("CARGO_BIN_EXE_memray-diff");

#[test]
fn a_capture_against_itself_changes_nothing() {
    let (dir, app) = common::app::setup();
    let p = app.to_str().unwrap();
    let doc: Value = serde_json::from_str(&ok(run(DIFF, dir.path(), &[p, p]))).unwrap();
    assert_eq!(doc["schema"], "memray-diff/1");
    let locations = doc["locations"].as_array().unwrap();
    assert!(!locations.is_empty());
    for l in locations {
        assert_eq!(l["status"], "same", "{l}");
        assert_eq!(l["change_bytes"], 0);
        assert_eq!(l["base_bytes"], l["new_bytes"]);
    }
    for key in [
        "peak_memory",
        "leaked_bytes",
        "total_allocations",
        "compared_bytes",
    ] {
        assert_eq!(doc["change"][key], 0, "{key}");
    }
    assert_eq!(doc["base"]["totals"]["peak_memory"], 7200);
    // Nothing grew: no gate fails, even at zero.
    let o = run(
        DIFF,
        dir.path(),
        &[
            "--fail-if-peak-grows",
            "0%",
            "--fail-if-location-grows",
            "0",
            p,
            p,
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn another_program_is_all_new_and_gone_and_fails_the_gates() {
    let (dir, app) = common::app::setup();
    let demo = write_capture(dir.path(), "demo.bin");
    let (a, d) = (app.to_str().unwrap(), demo.to_str().unwrap());
    let doc: Value = serde_json::from_str(&ok(run(DIFF, dir.path(), &[a, d]))).unwrap();
    let locations = doc["locations"].as_array().unwrap();
    assert!(locations
        .iter()
        .all(|l| l["status"] == "new" || l["status"] == "gone"));
    let grew: i64 = doc["change"]["peak_memory"].as_i64().unwrap();
    assert_ne!(grew, 0);
    let (small, big) = if grew > 0 { (a, d) } else { (d, a) };
    let o = run(
        DIFF,
        dir.path(),
        &["--fail-if-peak-grows", "1%", small, big],
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with("memray-diff: peak memory grew by +"),
        "{}",
        o.stderr
    );
    assert_eq!(o.stderr.lines().count(), 1);
    let doc: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(doc["failures"][0]["gate"], "peak");
}

#[test]
fn bad_inputs_and_flags() {
    let (dir, app) = common::app::setup();
    let a = app.to_str().unwrap();
    for (name, message) in bad_inputs(dir.path()) {
        let o = run(DIFF, dir.path(), &[a, name]);
        let line = assert_one_line_error(&o, name);
        assert!(line.contains(message), "{name}: {line}");
    }
    let o = run(DIFF, dir.path(), &["-", a]);
    assert!(assert_one_line_error(&o, "-").contains("standard input"));
    let o = run(DIFF, dir.path(), &["--format", "html", a, a]);
    assert!(assert_one_line_error(&o, "html").contains("-o"));
    let o = run(DIFF, dir.path(), &["--fail-if-leaks-grow", "lots", a, a]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("is not a threshold"), "{}", o.stderr);
}
