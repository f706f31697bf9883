//! `memray-flamegraph`: the JSON document of the page for every view (peak, leaks, temporary
//! allocations, split by thread, inverted, temporal), its default name and overwriting,
//! hostile names, source lines, and the static SVG. The capture and its figures are in
//! `common/app.rs`.

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::app::{
    check_default_output_and_overwriting, check_missing_capture_is_one_clear_error, embedded_json,
    header, hostile_capture, hostile_page, report, setup, APP, COMMAND_LINE, EVIL_CMD, EVIL_FILE,
    EVIL_FN, EVIL_THREAD, RUNPY, THREADING,
};
use common::{code, ev, node, ok, run, START_MS};
use memray_format::{AllocatorType, CaptureWriter, WriterOptions};
use serde_json::{json, Value};
use tempfile::TempDir;

const FLAMEGRAPH: &str = env!("CARGO_BIN_EXE_memray-flamegraph");
const MEMRAY: &str = env!("CARGO_BIN_EXE_memray");

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
fn default_output_names_and_overwriting() {
    let (dir, path) =
        check_default_output_and_overwriting(FLAMEGRAPH, "memray-flamegraph-app.py.4242.html");
    let d = dir.path();
    let p = path.to_str().unwrap();

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
}

#[test]
fn missing_capture_is_one_clear_error() {
    check_missing_capture_is_one_clear_error(FLAMEGRAPH);
}

/// Names that are hostile HTML stay text; the source lines of readable files are embedded.
#[test]
fn hostile_names_are_escaped_and_source_lines_embedded() {
    let h = hostile_capture();
    let doc = hostile_page(FLAMEGRAPH, &h);
    assert_eq!(doc["meta"]["command_line"], EVIL_CMD);
    assert_eq!(doc["meta"]["threads"], json!([[1, EVIL_THREAD]]));
    let strings = doc["strings"].as_array().unwrap();
    assert!(strings.contains(&json!(EVIL_FN)) && strings.contains(&json!(EVIL_FILE)));
    // Source lines: from the readable files, not from `<...>` names.
    assert_eq!(
        doc["source"],
        json!({
            format!("{}:4", h.app): "return bytearray(10) # <b>x</b>",
            "rel.py:2": "keep = bytearray(99)",
        })
    );
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
