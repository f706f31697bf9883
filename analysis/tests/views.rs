//! Golden tests of the data every report is built from — call trees (by thread, inverted),
//! memory by function, temporary allocations by threshold, the temporal data per interval —
//! on a capture with known events from known stacks, written with the format crate's writer
//! and checked against figures worked out by hand below. The report programs' own tests
//! (memray-tools' `tests/common/app.rs`) read the same capture.
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

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use memray_analysis::functions::{by_function, FunctionRow};
use memray_analysis::snapshot::{aggregate, View};
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::{analyze, Analysis, ReplayOptions};
use memray_format::{
    AllocatorType, Capture, CaptureWriter, CodeDef, Event, FileFormat, Header, MemorySample,
    StackNode, ThreadName, WriterOptions,
};
use tempfile::TempDir;

/// When the capture starts.
const START_MS: u64 = 1_700_000_000_000;

const APP: &str = "/proj/app.py";
const LIB: &str = "/proj/lib.py";
const THREADING: &str = "/opt/python3.11/lib/threading.py";
const RUN_PY: &str = "/usr/lib/python3.11/site-packages/memray/commands/run.py";
const RUNPY: &str = "<frozen runpy>";
const IMPORTLIB: &str = "<frozen importlib._bootstrap>";

/// Pid 4242, main thread 1 with 1 frame (`_run_tracker`) hidden, Python 3.11.7 with pymalloc,
/// every allocation recorded.
fn header() -> Header {
    Header {
        pid: 4242,
        main_thread_id: 1,
        start_time_ms: START_MS,
        command_line: "python3 -m memray run app.py".into(),
        python_version: "3.11.7".into(),
        python_allocator: "pymalloc".into(),
        native_traces: false,
        trace_python_allocators: false,
        follow_fork: false,
        file_format: FileFormat::AllAllocations,
        memory_interval_ms: 10,
        main_thread_skipped_frames: 1,
        stdlib_dir: "/usr/lib/python3.11".into(),
        site_packages: vec!["/usr/lib/python3.11/site-packages".into()],
        sys_path: vec!["/proj".into(), "/usr/lib/python3.11".into()],
        parent_pid: 0,
        sample_every: 0,
    }
}

fn code<W: Write>(
    w: &mut CaptureWriter<W>,
    function: &str,
    filename: &str,
    first_line: u32,
) -> u32 {
    w.define_code(&CodeDef {
        function: function.into(),
        filename: filename.into(),
        first_line,
    })
    .unwrap()
}

fn node<W: Write>(w: &mut CaptureWriter<W>, parent: u32, code: u32, line: u32) -> u32 {
    w.define_node(&StackNode {
        parent,
        code,
        line,
        entry: true,
    })
    .unwrap()
}

fn ev<W: Write>(
    w: &mut CaptureWriter<W>,
    allocator: AllocatorType,
    thread: u32,
    address: u64,
    size: u64,
    stack: u32,
) {
    w.event(&Event {
        allocator,
        thread,
        address,
        size,
        stack,
        native_stack: 0,
    })
    .unwrap()
}

fn thread_name<W: Write>(w: &mut CaptureWriter<W>, thread: u32, name: &str) {
    w.thread_name(&ThreadName {
        thread,
        name: name.into(),
    })
    .unwrap();
}

fn memory_sample<W: Write>(w: &mut CaptureWriter<W>, time_ms: u64, rss: u64) {
    w.memory_sample(&MemorySample { time_ms, rss }).unwrap();
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
