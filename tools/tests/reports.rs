//! Golden tests of the data every report is built from, and of the report programs' text and
//! files: a capture with known events from known stacks is written with the format crate's
//! writer, and every node, row and line is checked against figures worked out by hand below.
//!
//! Code: `_run_tracker` (memray's own frame, skipped: the header says 1 skipped frame on the
//! main thread), `_run_code` in `<frozen runpy>` (irrelevant), `<module>`, `make_list`,
//! `recurse` and `worker` in /proj/app.py, `_find_and_load` in `<frozen importlib._bootstrap>`
//! (import system), `helper` in /proj/lib.py and `run` in threading.py.
//!
//! Stacks (outermost first; T = `_run_tracker:83`, R = `_run_code:88`):
//!
//! | name       | thread | frames                                                     |
//! |------------|--------|------------------------------------------------------------|
//! | S_MAKE     | 1      | T R `<module>:4` `make_list:12`                            |
//! | S_REC      | 1      | T R `<module>:5` `recurse:20` `recurse:21`                 |
//! | S_WORKER   | 2      | `run:975` `worker:40` (not the main thread: nothing hidden) |
//! | S_IMP      | 1      | T R `<module>:6` `_find_and_load:1176` `helper:30`         |
//! | S_MODULE7  | 1      | T R `<module>:7`                                           |
//!
//! Events, with the heap after each one:
//!
//! | #  | event                      | stack     | heap | note                          |
//! |----|----------------------------|-----------|------|-------------------------------|
//! | 1  | MALLOC 0x10 1000 (t1)      | S_MAKE    | 1000 |                               |
//! | 2  | MALLOC 0x20 2000 (t1)      | S_MAKE    | 3000 |                               |
//! | 3  | FREE   0x10                |           | 2000 | 1 allocation in between       |
//! | 4  | MALLOC 0x30 500 (t1)       | S_REC     | 2500 |                               |
//! | 5  | MALLOC 0x40 700 (t2)       | S_WORKER  | 3200 |                               |
//! | 6  | MALLOC 0x50 300 (t1)       | S_IMP     | 3500 | peak of interval 0            |
//! | 7  | FREE   0x50                |           | 3200 | freed at once                 |
//! |    | sample +100 ms, rss 10 MB  |           |      | heap 3200                     |
//! | 8  | MALLOC 0x60 4000 (t1)      | S_MODULE7 | 7200 | the peak                      |
//! | 9  | FREE   0x60                |           | 3200 | freed at once                 |
//! | 10 | FREE   0x20                |           | 1200 | 3 allocations of t1 in between|
//! |    | sample +200 ms, rss 11 MB  |           |      | heap 1200                     |
//! | 11 | MALLOC 0x70 100 (t1)       | S_MAKE    | 1300 | leaked                        |
//! |    | end +300 ms                |           |      |                               |
//!
//! Peak 7200: S_MAKE 2000 (1), S_REC 500, S_WORKER 700, S_MODULE7 4000.
//! Leaks 1300: S_MAKE 100, S_REC 500, S_WORKER 700.
//! Temporary (threshold 0, the thread's last allocation only): S_IMP 300, S_MODULE7 4000.
//! Temporary (threshold 1): also S_MAKE 1000 (event 3). Threshold 3: S_MAKE 3000 in 2.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{
    assert_ok_quiet, base_header, cmd, code, ev, finish, memory_sample, node, thread_name, Out,
    START_MS,
};
use memray_analysis::functions::{by_function, FunctionRow};
use memray_analysis::snapshot::{aggregate, View};
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::{analyze, Analysis, ReplayOptions};
use memray_format::{AllocatorType, Capture, CaptureWriter, Header, WriterOptions};
use serde_json::{json, Value};
use tempfile::TempDir;

const FLAMEGRAPH: &str = env!("CARGO_BIN_EXE_memray-flamegraph");
const TABLE: &str = env!("CARGO_BIN_EXE_memray-table");
const SUMMARY: &str = env!("CARGO_BIN_EXE_memray-summary");
const TREE: &str = env!("CARGO_BIN_EXE_memray-tree");
const MEMRAY: &str = env!("CARGO_BIN_EXE_memray");

const APP: &str = "/proj/app.py";
const LIB: &str = "/proj/lib.py";
const THREADING: &str = "/opt/python3.11/lib/threading.py";
const RUN_PY: &str = "/usr/lib/python3.11/site-packages/memray/commands/run.py";
const RUNPY: &str = "<frozen runpy>";
const IMPORTLIB: &str = "<frozen importlib._bootstrap>";
const COMMAND_LINE: &str = "python3 -m memray run app.py";

fn header() -> Header {
    Header {
        command_line: COMMAND_LINE.into(),
        site_packages: vec!["/usr/lib/python3.11/site-packages".into()],
        sys_path: vec!["/proj".into(), "/usr/lib/python3.11".into()],
        ..base_header()
    }
}

/// The capture described at the top of this file.
fn capture_bytes() -> Vec<u8> {
    let mut w = CaptureWriter::new(Vec::new(), &header(), WriterOptions::default()).unwrap();
    let c_tracker = code(&mut w, "_run_tracker", RUN_PY, 70);
    let c_run_code = code(&mut w, "_run_code", RUNPY, 60);
    let c_module = code(&mut w, "<module>", APP, 1);
    let c_make_list = code(&mut w, "make_list", APP, 10);
    let c_recurse = code(&mut w, "recurse", APP, 19);
    let c_worker = code(&mut w, "worker", APP, 39);
    let c_run = code(&mut w, "run", THREADING, 970);
    let c_load = code(&mut w, "_find_and_load", IMPORTLIB, 1165);
    let c_helper = code(&mut w, "helper", LIB, 29);

    let n_tracker = node(&mut w, 0, c_tracker, 83);
    let n_runpy = node(&mut w, n_tracker, c_run_code, 88);
    let n_mod4 = node(&mut w, n_runpy, c_module, 4);
    let s_make = node(&mut w, n_mod4, c_make_list, 12);
    let n_mod5 = node(&mut w, n_runpy, c_module, 5);
    let n_rec20 = node(&mut w, n_mod5, c_recurse, 20);
    let s_rec = node(&mut w, n_rec20, c_recurse, 21);
    let n_run = node(&mut w, 0, c_run, 975);
    let s_worker = node(&mut w, n_run, c_worker, 40);
    let n_mod6 = node(&mut w, n_runpy, c_module, 6);
    let n_load = node(&mut w, n_mod6, c_load, 1176);
    let s_imp = node(&mut w, n_load, c_helper, 30);
    let s_module7 = node(&mut w, n_runpy, c_module, 7);

    thread_name(&mut w, 1, "MainThread");
    thread_name(&mut w, 2, "worker");
    use AllocatorType::*;
    ev(&mut w, Malloc, 1, 0x10, 1000, s_make);
    ev(&mut w, Malloc, 1, 0x20, 2000, s_make);
    ev(&mut w, Free, 1, 0x10, 0, 0);
    ev(&mut w, Malloc, 1, 0x30, 500, s_rec);
    ev(&mut w, Malloc, 2, 0x40, 700, s_worker);
    ev(&mut w, Malloc, 1, 0x50, 300, s_imp);
    ev(&mut w, Free, 1, 0x50, 0, 0);
    memory_sample(&mut w, START_MS + 100, 10_000_000);
    ev(&mut w, Malloc, 1, 0x60, 4000, s_module7);
    ev(&mut w, Free, 1, 0x60, 0, 0);
    ev(&mut w, Free, 1, 0x20, 0, 0);
    memory_sample(&mut w, START_MS + 200, 11_000_000);
    ev(&mut w, Malloc, 1, 0x70, 100, s_make);
    w.finish(START_MS + 300).unwrap()
}

/// A temporary directory holding the capture as `memray-app.py.4242.bin`.
fn setup() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("memray-app.py.4242.bin");
    fs::write(&path, capture_bytes()).unwrap();
    (dir, path)
}

fn analysis(path: &Path, opts: ReplayOptions) -> Analysis {
    let mut c = Capture::open(path.to_str().unwrap()).unwrap();
    analyze(&mut c, opts).unwrap()
}

/// Runs `program ARGS` in `dir` with stdout a pipe, in UTC.
fn run(program: &str, dir: &Path, args: &[&str]) -> Out {
    finish(cmd(program, dir, args).output().unwrap())
}

fn ok(o: Out) -> String {
    assert_ok_quiet(&o);
    o.stdout
}

/// One node of a call tree, as (depth-first path of "fn file:line" labels, bytes, count,
/// interesting, import_system, thread).
type Row = (String, u64, u64, bool, bool, u32);

/// Every node of the tree except the root, depth first in child order, labelled with its path.
fn flatten(t: &CallTree) -> Vec<Row> {
    fn walk(t: &CallTree, id: u32, prefix: &str, out: &mut Vec<Row>) {
        for &c in &t.nodes[id as usize].children {
            let n = &t.nodes[c as usize];
            assert_eq!(n.parent, id);
            let name = if n.function.is_empty() {
                format!("[thread {}]", n.thread)
            } else {
                format!("{} {}:{}", n.function, n.filename, n.line)
            };
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix} > {name}")
            };
            out.push((
                path.clone(),
                n.bytes,
                n.count,
                n.interesting,
                n.import_system,
                n.thread,
            ));
            walk(t, c, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(t, 0, "", &mut out);
    out
}

fn rows(v: &[(&str, u64, u64, bool, bool, u32)]) -> Vec<Row> {
    v.iter()
        .map(|&(p, b, c, i, imp, t)| (p.to_string(), b, c, i, imp, t))
        .collect()
}

fn tree(path: &Path, view: View, opts: TreeOptions, merge: bool) -> CallTree {
    let a = analysis(
        path,
        ReplayOptions {
            temporary_threshold: (view == View::Temporary).then_some(0),
            ..Default::default()
        },
    );
    CallTree::build(&a, &aggregate(&a, view, merge), opts)
}

// Labels of the nodes, for the expectations below.
const R: &str = "_run_code <frozen runpy>:88";
const M4: &str = "<module> /proj/app.py:4";
const MK: &str = "make_list /proj/app.py:12";
const M5: &str = "<module> /proj/app.py:5";
const R20: &str = "recurse /proj/app.py:20";
const R21: &str = "recurse /proj/app.py:21";
const RUN: &str = "run /opt/python3.11/lib/threading.py:975";
const WK: &str = "worker /proj/app.py:40";
const M6: &str = "<module> /proj/app.py:6";
const LD: &str = "_find_and_load <frozen importlib._bootstrap>:1176";
const HP: &str = "helper /proj/lib.py:30";
const M7: &str = "<module> /proj/app.py:7";

fn p(parts: &[&str]) -> String {
    parts.join(" > ")
}

#[test]
fn call_tree_at_the_peak() {
    let (_dir, path) = setup();
    let t = tree(&path, View::Peak, TreeOptions::default(), true);
    assert_eq!(t.total(), 7200);
    assert_eq!(t.nodes[0].count, 4);
    assert_eq!(t.nodes.len(), 10);
    assert_eq!(
        flatten(&t),
        rows(&[
            // The skipped `_run_tracker` frame is gone; runpy's frame is kept, flagged.
            (&p(&[R]), 6500, 3, false, false, 0),
            (&p(&[R, M4]), 2000, 1, true, false, 0),
            (&p(&[R, M4, MK]), 2000, 1, true, false, 0),
            (&p(&[R, M5]), 500, 1, true, false, 0),
            (&p(&[R, M5, R20]), 500, 1, true, false, 0),
            (&p(&[R, M5, R20, R21]), 500, 1, true, false, 0),
            (&p(&[R, M7]), 4000, 1, true, false, 0),
            // Not the main thread: its outermost frame is not skipped.
            (&p(&[RUN]), 700, 1, true, false, 0),
            (&p(&[RUN, WK]), 700, 1, true, false, 0),
        ])
    );
}

#[test]
fn call_tree_of_leaks_and_temporary_allocations() {
    let (_dir, path) = setup();
    let t = tree(&path, View::Leaks, TreeOptions::default(), true);
    assert_eq!((t.total(), t.nodes[0].count), (1300, 3));
    assert_eq!(
        flatten(&t),
        rows(&[
            (&p(&[R]), 600, 2, false, false, 0),
            (&p(&[R, M4]), 100, 1, true, false, 0),
            (&p(&[R, M4, MK]), 100, 1, true, false, 0),
            (&p(&[R, M5]), 500, 1, true, false, 0),
            (&p(&[R, M5, R20]), 500, 1, true, false, 0),
            (&p(&[R, M5, R20, R21]), 500, 1, true, false, 0),
            (&p(&[RUN]), 700, 1, true, false, 0),
            (&p(&[RUN, WK]), 700, 1, true, false, 0),
        ])
    );

    // Threshold 0: only allocations freed before the thread's next allocation.
    let t = tree(&path, View::Temporary, TreeOptions::default(), true);
    assert_eq!((t.total(), t.nodes[0].count), (4300, 2));
    assert_eq!(
        flatten(&t),
        rows(&[
            (&p(&[R]), 4300, 2, false, false, 0),
            (&p(&[R, M6]), 300, 1, true, false, 0),
            // The import system's frame and everything under it are flagged.
            (&p(&[R, M6, LD]), 300, 1, true, true, 0),
            (&p(&[R, M6, LD, HP]), 300, 1, true, true, 0),
            (&p(&[R, M7]), 4000, 1, true, false, 0),
        ])
    );
}

#[test]
fn temporary_allocations_by_threshold() {
    let (_dir, path) = setup();
    let found = |threshold: usize| -> Vec<(u32, u64, u64)> {
        let a = analysis(
            &path,
            ReplayOptions {
                temporary_threshold: Some(threshold),
                ..Default::default()
            },
        );
        aggregate(&a, View::Temporary, true)
            .iter()
            .map(|g| (g.stack, g.size, g.count))
            .collect()
    };
    // Stack ids: S_MAKE 4, S_IMP 12, S_MODULE7 13.
    assert_eq!(found(0), vec![(12, 300, 1), (13, 4000, 1)]);
    assert_eq!(found(1), vec![(4, 1000, 1), (12, 300, 1), (13, 4000, 1)]);
    assert_eq!(found(2), vec![(4, 1000, 1), (12, 300, 1), (13, 4000, 1)]);
    assert_eq!(found(3), vec![(4, 3000, 2), (12, 300, 1), (13, 4000, 1)]);
}

#[test]
fn call_tree_split_by_thread_and_inverted() {
    let (_dir, path) = setup();
    let opts = TreeOptions {
        split_threads: true,
        inverted: false,
    };
    let t = tree(&path, View::Peak, opts, false);
    assert_eq!(t.total(), 7200);
    let (t1, t2) = ("[thread 1]", "[thread 2]");
    assert_eq!(
        flatten(&t),
        rows(&[
            (t1, 6500, 3, true, false, 1),
            (&p(&[t1, R]), 6500, 3, false, false, 1),
            (&p(&[t1, R, M4]), 2000, 1, true, false, 1),
            (&p(&[t1, R, M4, MK]), 2000, 1, true, false, 1),
            (&p(&[t1, R, M5]), 500, 1, true, false, 1),
            (&p(&[t1, R, M5, R20]), 500, 1, true, false, 1),
            (&p(&[t1, R, M5, R20, R21]), 500, 1, true, false, 1),
            (&p(&[t1, R, M7]), 4000, 1, true, false, 1),
            (t2, 700, 1, true, false, 2),
            (&p(&[t2, RUN]), 700, 1, true, false, 2),
            (&p(&[t2, RUN, WK]), 700, 1, true, false, 2),
        ])
    );

    let opts = TreeOptions {
        split_threads: false,
        inverted: true,
    };
    let t = tree(&path, View::Peak, opts, true);
    assert_eq!(t.total(), 7200);
    assert_eq!(
        flatten(&t),
        rows(&[
            (MK, 2000, 1, true, false, 0),
            (&p(&[MK, M4]), 2000, 1, true, false, 0),
            (&p(&[MK, M4, R]), 2000, 1, false, false, 0),
            (R21, 500, 1, true, false, 0),
            (&p(&[R21, R20]), 500, 1, true, false, 0),
            (&p(&[R21, R20, M5]), 500, 1, true, false, 0),
            (&p(&[R21, R20, M5, R]), 500, 1, false, false, 0),
            (WK, 700, 1, true, false, 0),
            (&p(&[WK, RUN]), 700, 1, true, false, 0),
            (M7, 4000, 1, true, false, 0),
            (&p(&[M7, R]), 4000, 1, false, false, 0),
        ])
    );
}

fn frow(function: &str, filename: &str, own: u64, total: u64, count: u64) -> FunctionRow {
    FunctionRow {
        function: function.into(),
        filename: filename.into(),
        own_bytes: own,
        total_bytes: total,
        count,
    }
}

#[test]
fn memory_by_function() {
    let (_dir, path) = setup();
    let a = analysis(&path, ReplayOptions::default());
    let groups = aggregate(&a, View::Peak, true);
    let expected = vec![
        frow("make_list", APP, 2000, 2000, 1),
        // All `<module>` lines are one function.
        frow("<module>", APP, 4000, 6500, 3),
        frow("_run_code", RUNPY, 0, 6500, 3),
        // recurse -> recurse: counted once.
        frow("recurse", APP, 500, 500, 1),
        frow("worker", APP, 700, 700, 1),
        frow("run", THREADING, 0, 700, 1),
    ];
    assert_eq!(by_function(&a, &groups, 1.0), expected);
    assert_eq!(by_function(&a, &groups, 0.95), expected);
    // Groups are taken in order of first allocation until the coverage is reached: S_MAKE
    // (2000 of 7200) covers 25%, S_REC takes it to 34.7%.
    let rows = by_function(&a, &groups, 0.25);
    assert_eq!(
        rows,
        vec![
            frow("make_list", APP, 2000, 2000, 1),
            frow("<module>", APP, 0, 2000, 1),
            frow("_run_code", RUNPY, 0, 2000, 1),
        ]
    );
    let rows = by_function(&a, &groups, 0.3);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3], frow("recurse", APP, 500, 500, 1));

    // Leaks.
    let groups = aggregate(&a, View::Leaks, true);
    assert_eq!(
        by_function(&a, &groups, 1.0),
        vec![
            frow("make_list", APP, 100, 100, 1),
            frow("<module>", APP, 0, 600, 2),
            frow("_run_code", RUNPY, 0, 600, 2),
            frow("recurse", APP, 500, 500, 1),
            frow("worker", APP, 700, 700, 1),
            frow("run", THREADING, 0, 700, 1),
        ]
    );
}

#[test]
fn temporal_data_per_interval() {
    let (_dir, path) = setup();
    let a = analysis(
        &path,
        ReplayOptions {
            temporal_peaks: true,
            lifetimes: true,
            ..Default::default()
        },
    );
    // Interval 0: events 1-7, 1: events 8-10, 2: event 11.
    assert_eq!(a.interval_peaks, vec![3500, 7200, 1300]);
    // Locations in order of first allocation: S_MAKE, S_REC, S_WORKER, S_IMP, S_MODULE7.
    assert_eq!(
        a.interval_runs,
        vec![
            vec![(0, 2000, 1), (2, 100, 1)],
            vec![(0, 500, 1)],
            vec![(0, 700, 1)],
            vec![(0, 300, 1), (1, 0, 0)],
            vec![(1, 4000, 1), (2, 0, 0)],
        ]
    );
    let lifetimes: Vec<(u32, u32, Option<u32>, u64, u64)> = a
        .lifetimes
        .iter()
        .map(|l| (l.location, l.allocated_in, l.freed_in, l.bytes, l.count))
        .collect();
    assert_eq!(
        lifetimes,
        vec![
            (0, 0, Some(0), 1000, 1),
            (0, 0, Some(1), 2000, 1),
            (0, 2, None, 100, 1),
            (1, 0, None, 500, 1),
            (2, 0, None, 700, 1),
            (3, 0, Some(0), 300, 1),
            (4, 1, Some(1), 4000, 1),
        ]
    );
}

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
fn tree_text_piped() {
    let (dir, path) = setup();
    let p = path.to_str().unwrap();
    let out = ok(run(TREE, dir.path(), &[p]));
    assert!(!out.contains('\x1b'), "ANSI escapes when piped: {out:?}");
    assert_eq!(
        out,
        "\
Allocation metadata
-------------------
Command line arguments: 'python3 -m memray run app.py'
Peak memory size: 7.200kB
Number of allocations: 7

Biggest 200 allocations:
-----------------------
📂 7.200kB (100.00 %) <ROOT>
├── 📄 4.000kB (55.56 %) <module>  /proj/app.py:7
├── 📂 2.000kB (27.78 %) <module>  /proj/app.py:4
│   └── 📄 2.000kB (27.78 %) make_list  /proj/app.py:12
├── 📂 700.000B (9.72 %) run  /opt/python3.11/lib/threading.py:975
│   └── 📄 700.000B (9.72 %) worker  /proj/app.py:40
└── 📂 500.000B (6.94 %) <module>  /proj/app.py:5
    └── 📂 500.000B (6.94 %) recurse  /proj/app.py:20
        └── 📄 500.000B (6.94 %) recurse  /proj/app.py:21
"
    );

    let out = ok(run(TREE, dir.path(), &["-b", "2", p]));
    assert_eq!(
        out.split("-----------------------\n").nth(1).unwrap(),
        "\
📂 7.200kB (100.00 %) <ROOT>
├── 📄 4.000kB (55.56 %) <module>  /proj/app.py:7
└── 📂 2.000kB (27.78 %) <module>  /proj/app.py:4
    └── 📄 2.000kB (27.78 %) make_list  /proj/app.py:12
… 2 more allocation locations (1.200kB, 16.67 %, 2 allocations) below the 2 biggest
"
    );

    let out = ok(run(TREE, dir.path(), &["--leaks", "-b", "1", p]));
    assert_eq!(
        out.split("-----------------------\n").nth(1).unwrap(),
        "\
📂 1.300kB (100.00 %) <ROOT>
└── 📂 700.000B (53.85 %) run  /opt/python3.11/lib/threading.py:975
    └── 📄 700.000B (53.85 %) worker  /proj/app.py:40
… 2 more allocation locations (600.000B, 46.15 %, 2 allocations) below the 1 biggest
"
    );

    let out = ok(run(
        TREE,
        dir.path(),
        &["--temporary-allocation-threshold", "0", p],
    ));
    assert_eq!(
        out.split("-----------------------\n").nth(1).unwrap(),
        "\
📂 4.300kB (100.00 %) <ROOT>
├── 📄 4.000kB (93.02 %) <module>  /proj/app.py:7
└── 📂 300.000B (6.98 %) <module>  /proj/app.py:6
    └── 📂 300.000B (6.98 %) _find_and_load  <frozen importlib._bootstrap>:1176
        └── 📄 300.000B (6.98 %) helper  /proj/lib.py:30
"
    );
    let out = ok(run(TREE, dir.path(), &["--temporary-allocations", p]));
    assert!(out.contains("📂 5.300kB (100.00 %) <ROOT>\n"), "{out}");
}

/// The JSON document embedded in a report page.
fn embedded_json(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"memray-data\">";
    let start = html.find(open).expect("no data element") + open.len();
    let len = html[start..].find("</script>").expect("unterminated data");
    serde_json::from_str(&html[start..start + len]).unwrap()
}

/// Writes a report with `program ARGS -o OUT` and returns its embedded document.
fn report(program: &str, dir: &Path, args: &[&str]) -> (String, Value) {
    let out = dir.join("report.html");
    let _ = fs::remove_file(&out);
    let o = out.to_str().unwrap();
    let mut all = args.to_vec();
    all.extend(["-o", o]);
    let stdout = ok(run(program, dir, &all));
    assert_eq!(stdout, format!("Wrote {o}\n"));
    let html = fs::read_to_string(&out).unwrap();
    let doc = embedded_json(&html);
    (html, doc)
}

#[test]
fn flamegraph_document_of_the_peak() {
    let (dir, path) = setup();
    let (html, doc) = report(FLAMEGRAPH, dir.path(), &[path.to_str().unwrap()]);
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert_eq!(
        doc["strings"],
        json!([
            "",
            "_run_code",
            RUNPY,
            "<module>",
            APP,
            "make_list",
            "recurse",
            "run",
            THREADING,
            "worker"
        ])
    );
    assert_eq!(
        doc["nodes"],
        json!({
            "fn":     [0, 1, 3, 5, 3, 6, 6, 7, 9, 3],
            "file":   [0, 2, 4, 4, 4, 4, 4, 8, 4, 4],
            "line":   [0, 88, 4, 12, 5, 20, 21, 975, 40, 7],
            "value":  [7200, 6500, 2000, 2000, 500, 500, 500, 700, 700, 4000],
            "n":      [4, 3, 1, 1, 1, 1, 1, 1, 1, 1],
            "parent": [0, 0, 1, 2, 1, 4, 5, 0, 7, 1],
            "thread": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            "flags":  [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        })
    );
    assert_eq!(
        doc["memory"],
        json!([
            [START_MS + 100, 10_000_000, 3200],
            [START_MS + 200, 11_000_000, 1200]
        ])
    );
    assert_eq!(doc["source"], json!({}));
    assert_eq!(doc["temporal"], Value::Null);
    assert_eq!(
        doc["meta"],
        json!({
            "title": "memray flamegraph: Memory at the high-water mark",
            "command_line": COMMAND_LINE,
            "pid": 4242,
            "start_time": "2023-11-14 22:13:20+00:00",
            "end_time": "2023-11-14 22:13:20.300000+00:00",
            "duration": "0.300 s",
            "peak_memory": 7200,
            "total_allocations": 7,
            "python_allocator": "pymalloc",
            "has_native_traces": false,
            "trace_python_allocators": false,
            "view_name": "Memory at the high-water mark",
            "split_threads": false,
            "threads": [[1, "MainThread"], [2, "worker"]],
        })
    );
}

#[test]
fn flamegraph_documents_of_other_views() {
    let (dir, path) = setup();
    let p = path.to_str().unwrap();
    let d = dir.path();

    let (_, doc) = report(FLAMEGRAPH, d, &["--leaks", p]);
    assert_eq!(doc["meta"]["view_name"], "Leaked memory");
    assert_eq!(
        doc["nodes"]["value"],
        json!([1300, 600, 100, 100, 500, 500, 500, 700, 700])
    );

    let (_, doc) = report(FLAMEGRAPH, d, &["--temporary-allocation-threshold", "0", p]);
    assert_eq!(doc["meta"]["view_name"], "Temporary allocations");
    // root, runpy, <module>:6, _find_and_load, helper, <module>:7
    assert_eq!(
        doc["nodes"]["value"],
        json!([4300, 4300, 300, 300, 300, 4000])
    );
    assert_eq!(doc["nodes"]["flags"], json!([0, 1, 0, 2, 2, 0]));
    let (_, doc) = report(FLAMEGRAPH, d, &["--temporary-allocations", p]);
    assert_eq!(doc["nodes"]["value"][0], 5300);

    let (_, doc) = report(FLAMEGRAPH, d, &["--split-threads", p]);
    assert_eq!(doc["meta"]["split_threads"], true);
    assert_eq!(
        doc["nodes"]["thread"],
        json!([0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 1])
    );
    // Thread nodes are flagged so the page hides them (and offers a thread selector).
    assert_eq!(
        doc["nodes"]["flags"],
        json!([0, 4, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0])
    );

    let (_, doc) = report(FLAMEGRAPH, d, &["--inverted", p]);
    let s = doc["strings"].as_array().unwrap();
    let first_child_fn = doc["nodes"]["fn"][1].as_u64().unwrap() as usize;
    assert_eq!(s[first_child_fn], "make_list");

    // --temporal: every location that ever allocated, with its total, and per-interval data.
    let (_, doc) = report(FLAMEGRAPH, d, &["--temporal", p]);
    assert_eq!(
        doc["meta"]["view_name"],
        "Memory at the high-water mark (temporal)"
    );
    // root, runpy, <module>:4, make_list, <module>:5, recurse:20, recurse:21, run, worker,
    // <module>:6, _find_and_load, helper, <module>:7
    assert_eq!(
        doc["nodes"]["value"],
        json!([8600, 7900, 3100, 3100, 500, 500, 500, 700, 700, 300, 300, 300, 4000])
    );
    assert_eq!(
        doc["temporal"],
        json!({
            "kind": "peak",
            "intervals": 3,
            "peaks": [3500, 7200, 1300],
            "locations": [
                [3, [[0, 2000, 1], [2, 100, 1]]],
                [6, [[0, 500, 1]]],
                [8, [[0, 700, 1]]],
                [11, [[0, 300, 1], [1, 0, 0]]],
                [12, [[1, 4000, 1], [2, 0, 0]]],
            ],
        })
    );
    let (_, doc) = report(FLAMEGRAPH, d, &["--temporal", "--leaks", p]);
    assert_eq!(doc["meta"]["view_name"], "Leaked memory (temporal)");
    assert_eq!(
        doc["temporal"],
        json!({
            "kind": "leaks",
            "intervals": 3,
            "locations": [
                [3, [[0, 0, 1000, 1], [0, 1, 2000, 1], [2, -1, 100, 1]]],
                [6, [[0, -1, 500, 1]]],
                [8, [[0, -1, 700, 1]]],
                [11, [[0, 0, 300, 1]]],
                [12, [[1, 1, 4000, 1]]],
            ],
        })
    );
}

#[test]
fn table_document() {
    let (dir, path) = setup();
    let p = path.to_str().unwrap();
    let (_, doc) = report(TABLE, dir.path(), &[p]);
    assert_eq!(doc["title"], "memray table: Memory at the high-water mark");
    assert_eq!(doc["command_line"], COMMAND_LINE);
    let row = |size: u64, n: u64, loc: &str| json!({"thread": "merged thread", "size": size, "allocator": "MALLOC", "n_allocations": n, "location": loc});
    assert_eq!(
        doc["rows"],
        json!([
            row(2000, 1, "make_list at /proj/app.py:12"),
            row(500, 1, "recurse at /proj/app.py:21"),
            row(700, 1, "worker at /proj/app.py:40"),
            row(4000, 1, "<module> at /proj/app.py:7"),
        ])
    );
    let (_, doc) = report(TABLE, dir.path(), &["--split-threads", "--leaks", p]);
    let threads: Vec<&str> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["thread"].as_str().unwrap())
        .collect();
    assert_eq!(
        threads,
        ["0x1 (MainThread)", "0x1 (MainThread)", "0x2 (worker)"]
    );
    let (_, doc) = report(TABLE, dir.path(), &["--temporary-allocations", p]);
    let sizes: Vec<u64> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [1000, 300, 4000]);
}

#[test]
fn default_output_names_and_overwriting() {
    let (dir, path) = setup();
    let d = dir.path();
    let p = path.to_str().unwrap();
    for (program, name) in [
        (FLAMEGRAPH, "memray-flamegraph-app.py.4242.html"),
        (TABLE, "memray-table-app.py.4242.html"),
    ] {
        // Run from elsewhere: the report goes beside the capture.
        let elsewhere = TempDir::new().unwrap();
        let expected = d.join(name);
        let out = ok(run(program, elsewhere.path(), &[p]));
        assert_eq!(out, format!("Wrote {}\n", expected.display()));
        let first = fs::read(&expected).unwrap();
        assert!(fs::read_dir(elsewhere.path()).unwrap().next().is_none());

        // Not again without -f; the file is left alone.
        fs::write(&expected, b"keep me").unwrap();
        let o = run(program, elsewhere.path(), &[p]);
        assert_eq!(o.code, 1);
        assert_eq!(o.stdout, "");
        assert_eq!(
            o.stderr.trim_end().lines().collect::<Vec<_>>(),
            [format!(
                "{}: File already exists, will not overwrite without --force: {}",
                Path::new(program).file_name().unwrap().to_str().unwrap(),
                expected.display()
            )]
        );
        assert_eq!(fs::read(&expected).unwrap(), b"keep me");
        // An explicit -o is refused the same way.
        let o = run(program, d, &[p, "-o", name]);
        assert_eq!(o.code, 1);
        assert_eq!(fs::read(&expected).unwrap(), b"keep me");

        // With -f it is replaced.
        let out = ok(run(program, elsewhere.path(), &["-f", p]));
        assert_eq!(out, format!("Wrote {}\n", expected.display()));
        assert_eq!(fs::read(&expected).unwrap(), first);
        let out = ok(run(program, d, &["--force", "-o", name, p]));
        assert_eq!(out, format!("Wrote {name}\n"));
    }

    // A capture read from standard input: the report is named after `stdin`, in the current
    // directory.
    let o = Command::new(FLAMEGRAPH)
        .arg("-")
        .current_dir(d)
        .stdin(fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "Wrote memray-flamegraph-stdin.html\n"
    );
    assert!(d.join("memray-flamegraph-stdin.html").is_file());

    // Through the dispatcher.
    let out = ok(run(MEMRAY, d, &["flamegraph", "-o", "via-memray.html", p]));
    assert_eq!(out, "Wrote via-memray.html\n");
    let out = ok(run(MEMRAY, d, &["table", "-o", "via-memray-table.html", p]));
    assert_eq!(out, "Wrote via-memray-table.html\n");
}

#[test]
fn missing_capture_is_one_clear_error() {
    let dir = TempDir::new().unwrap();
    for program in [FLAMEGRAPH, TABLE, SUMMARY, TREE] {
        let o = run(program, dir.path(), &["nope.bin"]);
        assert_eq!(o.code, 1, "{program}");
        assert_eq!(o.stdout, "");
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        assert!(o.stderr.contains("No such file: nope.bin"), "{}", o.stderr);
    }
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}

/// A capture whose program, file, function and thread names are hostile HTML, and whose
/// source file exists (its lines are embedded).
#[test]
fn hostile_names_are_escaped_and_source_lines_embedded() {
    let dir = TempDir::new().unwrap();
    let app = dir.path().join("app.py");
    fs::write(
        &app,
        "import os\n\ndef f():\n    return bytearray(10) # <b>x</b>\n",
    )
    .unwrap();
    let app_s = app.to_str().unwrap();
    let evil_fn = "<img src=x onerror=alert(1)>";
    let evil_file = "</script><script>alert(2)</script>";
    let evil_cmd = "python3 app.py \"><img src=x onerror=alert(3)>\u{2028}";
    let evil_thread = "<script>alert(4)</script>";
    // A script run as `python rel.py` from src/: found through the program's sys.path.
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("rel.py"), "x = 1\nkeep = bytearray(99)\n").unwrap();
    let mut h = header();
    h.command_line = evil_cmd.into();
    h.main_thread_skipped_frames = 0;
    h.sys_path = vec!["relative/ignored".into(), src.to_str().unwrap().into()];
    let mut w = CaptureWriter::new(Vec::new(), &h, WriterOptions::default()).unwrap();
    let c_f = code(&mut w, "f", app_s, 3);
    let c_evil = code(&mut w, evil_fn, evil_file, 1);
    let s_f = node(&mut w, 0, c_f, 4);
    let s_evil = node(&mut w, s_f, c_evil, 2);
    let c_rel = code(&mut w, "<module>", "rel.py", 1);
    let s_rel = node(&mut w, 0, c_rel, 2);
    thread_name(&mut w, 1, evil_thread);
    ev(&mut w, AllocatorType::Malloc, 1, 0x10, 1234, s_evil);
    ev(&mut w, AllocatorType::Malloc, 1, 0x20, 10, s_f);
    ev(&mut w, AllocatorType::Malloc, 1, 0x30, 99, s_rel);
    let bytes = w.finish(START_MS + 10).unwrap();
    let path = dir.path().join("evil.bin");
    fs::write(&path, bytes).unwrap();
    let p = path.to_str().unwrap();

    for (program, args) in [
        (FLAMEGRAPH, vec!["--split-threads", p]),
        (TABLE, vec!["--split-threads", p]),
    ] {
        let (html, doc) = report(program, dir.path(), &args);
        // The page's own two script elements and nothing else that could start markup.
        assert_eq!(html.matches("<script").count(), 2, "{program}");
        assert_eq!(html.matches("</script>").count(), 2, "{program}");
        for bad in ["<img", "alert(2)</", "\u{2028}"] {
            assert!(!html.contains(bad), "{program}: {bad:?} in the page");
        }
        if program == FLAMEGRAPH {
            assert_eq!(doc["meta"]["command_line"], evil_cmd);
            assert_eq!(doc["meta"]["threads"], json!([[1, evil_thread]]));
            let strings = doc["strings"].as_array().unwrap();
            assert!(strings.contains(&json!(evil_fn)) && strings.contains(&json!(evil_file)));
            // Source lines: from the readable files, not from `<...>` names.
            assert_eq!(
                doc["source"],
                json!({
                    format!("{app_s}:4"): "return bytearray(10) # <b>x</b>",
                    "rel.py:2": "keep = bytearray(99)",
                })
            );
        } else {
            assert_eq!(doc["command_line"], evil_cmd);
            assert_eq!(doc["rows"][0]["thread"], format!("0x1 ({evil_thread})"));
            assert_eq!(
                doc["rows"][0]["location"],
                format!("{evil_fn} at {evil_file}:2")
            );
        }
    }
}

/// A frame whose file is a FIFO (or any non-regular file) must not make the report wait for
/// a writer that never comes: its source line is simply not embedded.
#[test]
fn source_lines_never_block_on_special_files() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("fifo.py");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut w = CaptureWriter::new(Vec::new(), &header(), WriterOptions::default()).unwrap();
    let c = code(&mut w, "f", fifo.to_str().unwrap(), 1);
    let c_dev = code(&mut w, "g", "/dev/zero", 1);
    let s = node(&mut w, 0, c, 1);
    let s_dev = node(&mut w, s, c_dev, 1);
    ev(&mut w, AllocatorType::Malloc, 2, 0x10, 10, s_dev);
    let path = dir.path().join("fifo.bin");
    fs::write(&path, w.finish(START_MS + 1).unwrap()).unwrap();

    let mut child = Command::new(FLAMEGRAPH)
        .args([path.to_str().unwrap(), "-o", "out.html"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("memray-flamegraph blocked on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success());
    let doc = embedded_json(&fs::read_to_string(dir.path().join("out.html")).unwrap());
    assert_eq!(doc["source"], json!({}));
}

#[test]
fn static_svg_flame_graph_through_inferno() {
    let (dir, path) = setup();
    let d = dir.path();
    let p = path.to_str().unwrap();
    let out = ok(run(FLAMEGRAPH, d, &["--format", "svg", p]));
    let expected = d.join("memray-flamegraph-app.py.4242.svg");
    assert_eq!(out, format!("Wrote {}\n", expected.display()));
    let svg = fs::read_to_string(&expected).unwrap();
    assert!(svg.starts_with("<?xml"), "{}", &svg[..80.min(svg.len())]);
    assert!(svg.contains("Memory at the high-water mark"));
    // The functions at the peak have boxes.
    for function in ["make_list", "recurse"] {
        assert!(svg.contains(function), "{function} missing");
    }
    assert!(svg.contains("bytes"));
    let o = run(FLAMEGRAPH, d, &["--format", "svg", "--temporal", "-f", p]);
    assert_eq!(o.code, 1);
}
