//! `memray-summary`: the table of functions in every view, sorted by each column, piped (no
//! colours). The capture and its figures are in `common/app.rs`.

mod common;

use common::app::{check_missing_capture_is_one_clear_error, setup};
use common::{ok, run};

const SUMMARY: &str = env!("CARGO_BIN_EXE_memray-summary");

const SUMMARY_PEAK: &str = "\
┌─────────────────────────────────────────┬────────────────┬────────────────┬────────────┬──────────────┬──────────────────┐
│ Location                                ┆ <Total Memory> ┆ Total Memory % ┆ Own Memory ┆ Own Memory % ┆ Allocation Count │
╞═════════════════════════════════════════╪════════════════╪════════════════╪════════════╪══════════════╪══════════════════╡
│ <module> at /proj/app.py                ┆        6.500kB ┆         90.28% ┆    4.000kB ┆       55.56% ┆                3 │
│ _run_code at <frozen runpy>             ┆        6.500kB ┆         90.28% ┆     0.000B ┆        0.00% ┆                3 │
│ make_list at /proj/app.py               ┆        2.000kB ┆         27.78% ┆    2.000kB ┆       27.78% ┆                1 │
│ worker at /proj/app.py                  ┆       700.000B ┆          9.72% ┆   700.000B ┆        9.72% ┆                1 │
│ run at /opt/python3.11/lib/threading.py ┆       700.000B ┆          9.72% ┆     0.000B ┆        0.00% ┆                1 │
│ recurse at /proj/app.py                 ┆       500.000B ┆          6.94% ┆   500.000B ┆        6.94% ┆                1 │
└─────────────────────────────────────────┴────────────────┴────────────────┴────────────┴──────────────┴──────────────────┘
";

#[test]
fn summary_text_piped() {
    let (dir, path) = setup();
    let p = path.to_str().unwrap();
    let out = ok(run(SUMMARY, dir.path(), &[p]));
    assert!(!out.contains('\x1b'), "ANSI escapes when piped: {out:?}");
    assert_eq!(out, SUMMARY_PEAK);

    // Sorted by own memory (column 3), two rows.
    let out = ok(run(SUMMARY, dir.path(), &["-s", "3", "-r", "2", p]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert!(lines[1].contains("┆ <Own Memory> ┆"), "{out}");
    assert!(lines[3].starts_with("│ <module> at /proj/app.py "), "{out}");
    assert!(
        lines[4].starts_with("│ make_list at /proj/app.py "),
        "{out}"
    );
    // By allocation count (5), then own % (4).
    let out = ok(run(SUMMARY, dir.path(), &["-s", "5", "-r", "1", p]));
    assert!(out.contains("<Allocation Count>"), "{out}");
    assert!(out
        .lines()
        .nth(3)
        .unwrap()
        .contains("<module> at /proj/app.py"));
    assert_eq!(out.lines().count(), 5);
    let out = ok(run(SUMMARY, dir.path(), &["--sort-column", "4", p]));
    assert!(out.contains("<Own Memory %>"), "{out}");

    // Leaks: 1300 bytes in all.
    let out = ok(run(SUMMARY, dir.path(), &["--leaks", "-r", "1", p]));
    let row = out.lines().nth(3).unwrap();
    assert!(row.starts_with("│ worker at /proj/app.py "), "{out}");
    assert!(
        row.contains("700.000B ┆         53.85% ┆   700.000B ┆       53.85% ┆"),
        "{row}"
    );
    // Temporary allocations (threshold 1): S_MAKE 1000, S_IMP 300, S_MODULE7 4000.
    let out = ok(run(SUMMARY, dir.path(), &["--temporary-allocations", p]));
    assert!(out.contains("│ make_list at /proj/app.py "), "{out}");
    assert!(out.contains("│ helper at /proj/lib.py "), "{out}");
    let out = ok(run(
        SUMMARY,
        dir.path(),
        &["--temporary-allocation-threshold", "0", p],
    ));
    assert!(!out.contains("make_list"), "{out}");
    assert!(out.contains("│ helper at /proj/lib.py "), "{out}");

    // Bad sort column: one line, exit 2 (clap).
    let o = run(SUMMARY, dir.path(), &["-s", "6", p]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stdout, "");
}

#[test]
fn missing_capture_is_one_clear_error() {
    check_missing_capture_is_one_clear_error(SUMMARY);
}
