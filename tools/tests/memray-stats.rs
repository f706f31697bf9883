//! End-to-end tests of `memray-stats` and of `memray stats` through the dispatcher: a capture
//! with known events from known lines is written with the format crate's writer, and every
//! figure the programs print is checked against numbers worked out by hand below.
//!
//! The events (t1 = main thread 1, t2 = worker thread 2), with the heap after each one:
//!
//! | #  | event                                     | stack                | heap      |
//! |----|-------------------------------------------|----------------------|-----------|
//! | 1  | MALLOC  0x1000 100                        | make_list:12         | 100       |
//! | 2  | MALLOC  0x2000 200                        | make_list:12         | 300       |
//! | 3  | CALLOC  0x3000 64                         | loads:353 (demo)     | 364       |
//! | 4  | FREE    0x1000                            |                      | 264       |
//! | 5  | FREE    0x2000  (realloc: old pointer)    |                      | 64        |
//! | 6  | REALLOC 0x4000 1000                       | make_list:12         | 1064      |
//! | 7  | MMAP    0x100000 1048576                  | <module>:6           | 1049640   |
//! | 8  | MUNMAP  0x140000 262144 (splits the map)  |                      | 787496    |
//! | 9  | MALLOC  0x5000 500 (t2)                   | compute:55 (numpy)   | 787996    |
//! | 10 | MALLOC  0x6000 500 (t2)                   | none (stack 0)       | 788496    |
//! | 11 | MALLOC  0x7000 32                         | loads:353 (<root>)   | 788528    |
//! | 12 | MUNMAP  0x100000 262144 (first piece)     |                      | 526384    |
//! | 13 | FREE    0x4000                            |                      | 525384    |
//! | 14 | FREE    0x9999 (never allocated)          |                      | 525384    |
//! | 15 | MALLOC  0x8000 600000 (last record)       | <module>:4           | 1125384   |
//!
//! Peak: 1125384 (1049640 without the last record). Allocations (non-frees): 9, bytes 1650972
//! (1050972 without the last). All records: 15.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    assert_ok_quiet, assert_one_line_error, base_header, cmd, code, ev, finish, memory_sample,
    node, thread_name, Out, START_MS,
};
use memray_format::{AllocatorType, CaptureWriter, Header, WriterOptions};
use serde_json::{json, Value};
use tempfile::TempDir;

const STATS: &str = env!("CARGO_BIN_EXE_memray-stats");
const MEMRAY: &str = env!("CARGO_BIN_EXE_memray");

const LAST_SAMPLE_MS: u64 = 1_700_000_001_234;
const END_MS: u64 = 1_700_000_002_000;

const LOC_MAKE_LIST: &str = "make_list:/proj/demo.py:12";
const LOC_LOADS: &str = "loads:/usr/lib/python3.11/json/decoder.py:353";
const LOC_MODULE_6: &str = "<module>:/proj/demo.py:6";
const LOC_MODULE_4: &str = "<module>:/proj/demo.py:4";
const LOC_COMPUTE: &str = "compute:/usr/lib/python3.11/site-packages/numpy/core/numeric.py:55";
const LOC_NONE: &str = "<stack trace unavailable>";

fn header() -> Header {
    Header {
        command_line: "python3 -m memray run demo.py".into(),
        native_traces: true,
        site_packages: vec!["/usr/lib/python3.11/site-packages".into()],
        sys_path: vec![
            "/proj".into(),
            "/usr/lib/python3.11".into(),
            "/usr/lib/python3.11/site-packages".into(),
        ],
        ..base_header()
    }
}

/// The capture described at the top of this file.
fn capture_bytes(opts: WriterOptions) -> Vec<u8> {
    let mut w = CaptureWriter::new(Vec::new(), &header(), opts).unwrap();
    let run_tracker = code(
        &mut w,
        "_run_tracker",
        "/usr/lib/python3.11/site-packages/memray/commands/run.py",
        70,
    );
    let run_code = code(&mut w, "_run_code", "<frozen runpy>", 60);
    let module = code(&mut w, "<module>", "/proj/demo.py", 1);
    let make_list = code(&mut w, "make_list", "/proj/demo.py", 10);
    let loads = code(&mut w, "loads", "/usr/lib/python3.11/json/decoder.py", 300);
    let compute = code(
        &mut w,
        "compute",
        "/usr/lib/python3.11/site-packages/numpy/core/numeric.py",
        50,
    );
    let n_tracker = node(&mut w, 0, run_tracker, 83);
    let n_runpy = node(&mut w, n_tracker, run_code, 88);
    let s_module_4 = node(&mut w, n_runpy, module, 4);
    let s_make_list = node(&mut w, s_module_4, make_list, 12);
    let s_loads_demo = node(&mut w, s_module_4, loads, 353);
    let s_compute = node(&mut w, s_module_4, compute, 55);
    let s_module_6 = node(&mut w, n_runpy, module, 6);
    // Called from runpy directly: every frame up to memray's own is stdlib, so `<root>`.
    let s_loads_root = node(&mut w, n_runpy, loads, 353);

    use AllocatorType::*;
    ev(&mut w, Malloc, 1, 0x1000, 100, s_make_list);
    ev(&mut w, Malloc, 1, 0x2000, 200, s_make_list);
    ev(&mut w, Calloc, 1, 0x3000, 64, s_loads_demo);
    ev(&mut w, Free, 1, 0x1000, 0, 0);
    // realloc(0x2000, 1000) moving the block: FREE of the old pointer, then REALLOC.
    ev(&mut w, Free, 1, 0x2000, 0, 0);
    ev(&mut w, Realloc, 1, 0x4000, 1000, s_make_list);
    ev(&mut w, Mmap, 1, 0x10_0000, 1_048_576, s_module_6);
    memory_sample(&mut w, START_MS + 500, 5_000_000);
    // Unmaps the middle quarter: two pieces remain.
    ev(&mut w, Munmap, 1, 0x14_0000, 262_144, 0);
    thread_name(&mut w, 2, "worker");
    ev(&mut w, Malloc, 2, 0x5000, 500, s_compute);
    ev(&mut w, Malloc, 2, 0x6000, 500, 0);
    ev(&mut w, Malloc, 1, 0x7000, 32, s_loads_root);
    // Unmaps the first piece exactly.
    ev(&mut w, Munmap, 1, 0x10_0000, 262_144, 0);
    ev(&mut w, Free, 1, 0x4000, 0, 0);
    ev(&mut w, Free, 1, 0x9999, 0, 0);
    memory_sample(&mut w, LAST_SAMPLE_MS, 6_000_000);
    ev(&mut w, Malloc, 1, 0x8000, 600_000, s_module_4);
    w.finish(END_MS).unwrap()
}

/// One record per chunk: every record seals its own chunk.
const TINY_CHUNKS: WriterOptions = WriterOptions {
    compression: memray_format::Compression::Zstd(1),
    chunk_size: 1,
};

fn write_capture(dir: &Path, name: &str, opts: WriterOptions) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, capture_bytes(opts)).unwrap();
    path
}

/// Where the index footer starts (the tail's first 8 bytes point at it).
fn footer_offset(bytes: &[u8]) -> usize {
    let n = bytes.len();
    assert_eq!(&bytes[n - 8..], b"MRYEND01");
    u64::from_le_bytes(bytes[n - 16..n - 8].try_into().unwrap()) as usize
}

/// `memray-stats ARGS` run directly (not through the dispatcher), stdout a pipe.
fn stats_cmd(dir: &Path, args: &[&str]) -> Command {
    cmd(STATS, dir, args)
}

fn stats(dir: &Path, args: &[&str]) -> Out {
    finish(stats_cmd(dir, args).output().unwrap())
}

/// `memray-stats ARGS` with `stdin` as its standard input.
fn stats_stdin(dir: &Path, args: &[&str], stdin: &Path) -> Out {
    let mut c = stats_cmd(dir, args);
    c.stdin(fs::File::open(stdin).unwrap());
    finish(c.output().unwrap())
}

/// `memray ARGS` (the dispatcher), stdout a pipe.
fn memray(dir: &Path, args: &[&str]) -> Out {
    finish(cmd(MEMRAY, dir, args).output().unwrap())
}

fn parse(doc: &str) -> Value {
    serde_json::from_str(doc).unwrap_or_else(|e| panic!("not JSON ({e}): {doc}"))
}

fn locations(v: &Value, list: &str, field: &str) -> Vec<(String, u64)> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e.as_object().unwrap().len(), 2, "{e}");
            (
                e["location"].as_str().unwrap().to_string(),
                e[field].as_u64().unwrap(),
            )
        })
        .collect()
}

fn owned(v: &[(&str, u64)]) -> Vec<(String, u64)> {
    v.iter().map(|(s, n)| (s.to_string(), *n)).collect()
}

/// The keys of the object that starts at the line `opening` (or of the whole document when
/// `opening` is `{`), in document order, from the indented text (Python's `indent=2`).
fn keys_in_order(doc: &str, opening: &str) -> Vec<String> {
    let lines: Vec<&str> = doc.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == opening)
        .unwrap_or_else(|| panic!("no line {opening:?}"));
    let indent = opening.len() - opening.trim_start().len() + 2;
    let prefix = format!("{}\"", " ".repeat(indent));
    let closing = " ".repeat(indent - 2);
    let mut keys = Vec::new();
    for l in &lines[start + 1..] {
        if l.starts_with(&format!("{closing}}}")) {
            break;
        }
        if let Some(rest) = l.strip_prefix(&prefix) {
            keys.push(rest.split('"').next().unwrap().to_string());
        }
    }
    keys
}

/// Checks every figure of the complete capture's JSON document for `-n 5`.
fn check_full_json(doc: &str) {
    let v = parse(doc);
    assert_eq!(v["total_num_allocations"], 9);
    assert_eq!(v["total_bytes_allocated"], 1_650_972);

    // Sizes 32..=1048576 in ten log bins: bounds int(32 * 2^(1.5 (i+1))), truncated.
    assert_eq!(
        v["allocation_size_histogram"],
        json!([
            {"min_bytes": 0, "max_bytes": 89, "count": 2},
            {"min_bytes": 90, "max_bytes": 254, "count": 2},
            {"min_bytes": 255, "max_bytes": 723, "count": 2},
            {"min_bytes": 724, "max_bytes": 2046, "count": 1},
            {"min_bytes": 2047, "max_bytes": 5791, "count": 0},
            {"min_bytes": 5792, "max_bytes": 16382, "count": 0},
            {"min_bytes": 16383, "max_bytes": 46339, "count": 0},
            {"min_bytes": 46340, "max_bytes": 131070, "count": 0},
            {"min_bytes": 131071, "max_bytes": 370726, "count": 0},
            {"min_bytes": 370727, "max_bytes": 1_048_576, "count": 2},
        ])
    );

    assert_eq!(
        v["allocator_type_distribution"],
        json!({"MALLOC": 6, "CALLOC": 1, "REALLOC": 1, "MMAP": 1})
    );
    // Count descending in the document (ties among the 1s are unspecified in Memray).
    let dist = keys_in_order(doc, "  \"allocator_type_distribution\": {");
    assert_eq!(dist.len(), 4);
    assert_eq!(dist[0], "MALLOC", "{dist:?}");
    let counts: Vec<u64> = dist
        .iter()
        .map(|k| v["allocator_type_distribution"][k].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{dist:?}");

    // Ties: the location seen later comes first; the no-stack entry is always last.
    assert_eq!(
        locations(&v, "top_allocations_by_size", "size"),
        owned(&[
            (LOC_MODULE_6, 1_048_576),
            (LOC_MODULE_4, 600_000),
            (LOC_MAKE_LIST, 1300),
            (LOC_COMPUTE, 500),
            (LOC_NONE, 500),
        ])
    );
    assert_eq!(
        locations(&v, "top_allocations_by_count", "count"),
        owned(&[
            (LOC_MAKE_LIST, 3),
            (LOC_LOADS, 2),
            (LOC_MODULE_4, 1),
            (LOC_COMPUTE, 1),
            (LOC_MODULE_6, 1),
        ])
    );

    let demo = json!({"module": "demo", "num_allocations": 6, "total_bytes": 1_649_940});
    let root = json!({"module": "<root>", "num_allocations": 2, "total_bytes": 532});
    let numpy = json!({"module": "numpy", "num_allocations": 1, "total_bytes": 500});
    assert_eq!(
        v["top_modules_by_allocation_size"],
        json!([demo, root, numpy])
    );
    assert_eq!(
        v["top_modules_by_allocation_count"],
        json!([demo, root, numpy])
    );

    assert_eq!(
        v["metadata"],
        json!({
            "start_time": "2023-11-14 22:13:20+00:00",
            "end_time": "2023-11-14 22:13:22+00:00",
            "total_allocations": 15,
            "total_frames": 6,
            "peak_memory": 1_125_384,
            "command_line": "python3 -m memray run demo.py",
            "pid": 4242,
            "main_thread_id": 1,
            "python_allocator": "pymalloc",
            "has_native_traces": true,
            "trace_python_allocators": false,
            "file_format": 0,
        })
    );
}

#[test]
fn json_figures_are_exact() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "demo.bin", WriterOptions::default());
    let o = stats(dir.path(), &["--json", cap.to_str().unwrap()]);
    assert_ok_quiet(&o);
    assert!(o.stdout.ends_with("}\n"), "{:?}", o.stdout);
    check_full_json(&o.stdout);
}

#[test]
fn json_key_order_and_layout_match_memray() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "demo.bin", WriterOptions::default());
    let o = stats(dir.path(), &["--json", cap.to_str().unwrap()]);
    assert_ok_quiet(&o);
    let doc = &o.stdout;
    assert_eq!(
        keys_in_order(doc, "{"),
        [
            "total_num_allocations",
            "total_bytes_allocated",
            "allocation_size_histogram",
            "allocator_type_distribution",
            "top_allocations_by_size",
            "top_allocations_by_count",
            "top_modules_by_allocation_size",
            "top_modules_by_allocation_count",
            "metadata",
        ]
    );
    assert_eq!(
        keys_in_order(doc, "  \"metadata\": {"),
        [
            "start_time",
            "end_time",
            "total_allocations",
            "total_frames",
            "peak_memory",
            "command_line",
            "pid",
            "main_thread_id",
            "python_allocator",
            "has_native_traces",
            "trace_python_allocators",
            "file_format",
        ]
    );
    // json.dump(indent=2): two-space indent, "key": value, entries' keys in Memray's order.
    assert!(
        doc.starts_with(
            "{\n  \"total_num_allocations\": 9,\n  \"total_bytes_allocated\": 1650972,\n  \
             \"allocation_size_histogram\": [\n    {\n      \"min_bytes\": 0,\n      \
             \"max_bytes\": 89,\n      \"count\": 2\n    },\n"
        ),
        "{doc}"
    );
    assert!(doc.contains(
        "  \"top_allocations_by_size\": [\n    {\n      \"location\": \"<module>:/proj/demo.py:6\",\n      \"size\": 1048576\n    },\n"
    ));
    assert!(doc.contains(
        "  \"top_modules_by_allocation_size\": [\n    {\n      \"module\": \"demo\",\n      \"num_allocations\": 6,\n      \"total_bytes\": 1649940\n    },\n"
    ));
    assert!(doc.contains("\n    \"has_native_traces\": true,\n"));
    assert!(doc.ends_with("    \"file_format\": 0\n  }\n}\n"), "{doc}");
}

#[test]
fn stdin_and_piped_output_give_the_same_json() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "demo.bin", WriterOptions::default());
    let path = cap.to_str().unwrap();
    let reference = stats(dir.path(), &["--json", path]);
    assert_ok_quiet(&reference);

    // Piped stdout without --json still prints the JSON document.
    let piped = stats(dir.path(), &[path]);
    assert_ok_quiet(&piped);
    assert_eq!(piped.stdout, reference.stdout);

    let from_stdin = stats_stdin(dir.path(), &["-"], &cap);
    assert_ok_quiet(&from_stdin);
    assert_eq!(from_stdin.stdout, reference.stdout);
    let from_stdin = stats_stdin(dir.path(), &["--json", "-"], &cap);
    assert_ok_quiet(&from_stdin);
    assert_eq!(from_stdin.stdout, reference.stdout);

    // The chunk layout does not change a figure: one record per chunk, uncompressed too.
    for opts in [
        TINY_CHUNKS,
        WriterOptions {
            compression: memray_format::Compression::None,
            chunk_size: 40,
        },
    ] {
        let chunked = write_capture(dir.path(), "chunked.bin", opts);
        let o = stats(dir.path(), &["--json", chunked.to_str().unwrap()]);
        assert_ok_quiet(&o);
        assert_eq!(o.stdout, reference.stdout);
        let o = stats_stdin(dir.path(), &["-"], &chunked);
        assert_ok_quiet(&o);
        assert_eq!(o.stdout, reference.stdout);
    }
}

#[test]
fn num_largest_limits_rows_and_keeps_tie_order() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "demo.bin", WriterOptions::default());
    let path = cap.to_str().unwrap();

    let o = stats(dir.path(), &["--json", "-n", "1", path]);
    assert_ok_quiet(&o);
    let v = parse(&o.stdout);
    assert_eq!(
        locations(&v, "top_allocations_by_size", "size"),
        owned(&[(LOC_MODULE_6, 1_048_576)])
    );
    assert_eq!(
        locations(&v, "top_allocations_by_count", "count"),
        owned(&[(LOC_MAKE_LIST, 3)])
    );
    assert_eq!(
        v["top_modules_by_allocation_size"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(v["top_modules_by_allocation_count"][0]["module"], "demo");
    // The histogram and totals do not depend on -n.
    assert_eq!(v["allocation_size_histogram"].as_array().unwrap().len(), 10);
    assert_eq!(v["total_num_allocations"], 9);

    // More rows than locations: every location, the no-stack one last among equals.
    let o = stats(dir.path(), &["--json", "--num-largest", "10", path]);
    assert_ok_quiet(&o);
    let v = parse(&o.stdout);
    assert_eq!(
        locations(&v, "top_allocations_by_size", "size"),
        owned(&[
            (LOC_MODULE_6, 1_048_576),
            (LOC_MODULE_4, 600_000),
            (LOC_MAKE_LIST, 1300),
            (LOC_COMPUTE, 500),
            (LOC_NONE, 500),
            (LOC_LOADS, 96),
        ])
    );
    assert_eq!(
        locations(&v, "top_allocations_by_count", "count"),
        owned(&[
            (LOC_MAKE_LIST, 3),
            (LOC_LOADS, 2),
            (LOC_MODULE_4, 1),
            (LOC_COMPUTE, 1),
            (LOC_MODULE_6, 1),
            (LOC_NONE, 1),
        ])
    );

    for bad in ["0", "-3", "x"] {
        let o = stats(dir.path(), &["--json", "-n", bad, path]);
        assert_eq!(o.code, 2, "-n {bad}: {}", o.stderr);
        assert_eq!(o.stdout, "");
        assert!(!o.stderr.contains("panicked"));
    }
    let o = stats(dir.path(), &["-n", "0", path]);
    assert!(
        o.stderr.contains("0 is an invalid positive int value"),
        "{}",
        o.stderr
    );
    let o = memray(dir.path(), &["stats", "-n", "0", path]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stdout, "");
}

#[test]
fn output_option_writes_the_document_there() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "demo.bin", WriterOptions::default());
    let path = cap.to_str().unwrap();
    let reference = stats(dir.path(), &["--json", path]).stdout;

    let out = dir.path().join("out.json");
    let o = stats(dir.path(), &["-o", "out.json", path]);
    assert_ok_quiet(&o);
    assert_eq!(o.stdout, "Wrote out.json\n");
    let written = fs::read_to_string(&out).unwrap();
    assert_eq!(format!("{written}\n"), reference, "no trailing newline");

    // Never overwritten without -f.
    let o = stats(dir.path(), &["--json", "-o", "out.json", "-n", "1", path]);
    let line = assert_one_line_error(&o, "existing -o");
    assert!(
        line.ends_with("File already exists, will not overwrite without --force: out.json"),
        "{line}"
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), written);

    let o = stats(
        dir.path(),
        &["--json", "-f", "-o", "out.json", "-n", "1", path],
    );
    assert_ok_quiet(&o);
    let v = parse(&fs::read_to_string(&out).unwrap());
    assert_eq!(v["top_allocations_by_size"].as_array().unwrap().len(), 1);

    // The dispatcher honours -o too (after Memray's empty progress line).
    let o = memray(
        dir.path(),
        &["stats", "--json", "-o", "other.json", "--force", path],
    );
    assert_ok_quiet(&o);
    assert_eq!(o.stdout, "\nWrote other.json\n");
    assert_eq!(
        fs::read_to_string(dir.path().join("other.json")).unwrap(),
        written
    );
}

#[test]
fn dispatcher_prints_memrays_text_report() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "demo.bin", WriterOptions::default());
    let o = memray(dir.path(), &["stats", cap.to_str().unwrap()]);
    assert_ok_quiet(&o);
    let full = |n: usize| "\u{2587}".repeat(n);
    let expected_head = format!(
        "\n\
         📏 Total allocations:\n\
         \t9\n\
         \n\
         📦 Total memory allocated:\n\
         \t1.651MB\n\
         \n\
         📈 Peak memory usage:\n\
         \t1.125MB\n\
         \n\
         📊 Histogram of allocation size:\n\
         \tmin: 32.000B\n\
         \t{dashes}\n\
         \t< 90.000B  : 2 {b25}\n\
         \t< 255.000B : 2 {b25}\n\
         \t< 724.000B : 2 {b25}\n\
         \t< 2.047kB  : 1 {b13}\n\
         \t< 5.792kB  : 0 \n\
         \t< 16.383kB : 0 \n\
         \t< 46.340kB : 0 \n\
         \t< 131.071kB: 0 \n\
         \t< 370.727kB: 0 \n\
         \t<=1.049MB  : 2 {b25}\n\
         \t{dashes}\n\
         \tmax: 1.049MB\n\
         \n\
         📂 Allocator type distribution:\n\
         \t MALLOC: 6\n",
        dashes = "-".repeat(2 + 9 + 2 + 1 + 1 + 25),
        b25 = full(25),
        b13 = full(13),
    );
    assert!(
        o.stdout.starts_with(&expected_head),
        "got:\n{}\nwanted to start with:\n{expected_head}",
        o.stdout
    );
    for line in ["\t CALLOC: 1\n", "\t REALLOC: 1\n", "\t MMAP: 1\n"] {
        assert!(o.stdout.contains(line), "{line:?}");
    }
    let expected_tail = format!(
        "\n\
         🥇 Top 5 largest allocating locations (by size):\n\
         \t- {LOC_MODULE_6} -> 1.049MB\n\
         \t- {LOC_MODULE_4} -> 600.000kB\n\
         \t- {LOC_MAKE_LIST} -> 1.300kB\n\
         \t- {LOC_COMPUTE} -> 500.000B\n\
         \t- {LOC_NONE} -> 500.000B\n\
         \n\
         🥇 Top 5 largest allocating locations (by number of allocations):\n\
         \t- {LOC_MAKE_LIST} -> 3\n\
         \t- {LOC_LOADS} -> 2\n\
         \t- {LOC_MODULE_4} -> 1\n\
         \t- {LOC_COMPUTE} -> 1\n\
         \t- {LOC_MODULE_6} -> 1\n\
         \n\
         🥇 Top 5 allocating modules (by size):\n\
         \t- demo: 1.650MB total | 6 allocations\n\
         \t- <root>: 532.000B total | 2 allocations\n\
         \t- numpy: 500.000B total | 1 allocations\n\
         \n\
         🥇 Top 5 allocating modules (by number of allocations):\n\
         \t- demo: 1.650MB total | 6 allocations\n\
         \t- <root>: 532.000B total | 2 allocations\n\
         \t- numpy: 500.000B total | 1 allocations\n"
    );
    assert!(
        o.stdout.ends_with(&expected_tail),
        "got:\n{}\nwanted to end with:\n{expected_tail}",
        o.stdout
    );
    // Nothing between the two checked parts but the allocator lines.
    assert_eq!(
        o.stdout.len(),
        expected_head.len()
            + "\t CALLOC: 1\n\t REALLOC: 1\n\t MMAP: 1\n".len()
            + expected_tail.len()
    );
    // No ANSI escapes when stdout is not a terminal.
    assert!(!o.stdout.contains('\x1b'));

    // -n is echoed in the headings even when fewer rows exist.
    let o = memray(dir.path(), &["stats", "-n", "1", cap.to_str().unwrap()]);
    assert_ok_quiet(&o);
    assert!(o.stdout.contains(&format!(
        "🥇 Top 1 largest allocating locations (by size):\n\t- {LOC_MODULE_6} -> 1.049MB\n\n"
    )));
    assert!(o.stdout.ends_with(
        "🥇 Top 1 allocating modules (by number of allocations):\n\t- demo: 1.650MB total | 6 allocations\n"
    ));
}

#[test]
fn dispatcher_json_writes_beside_the_capture_and_never_overwrites_silently() {
    let dir = TempDir::new().unwrap();
    let sub = dir.path().join("runs");
    fs::create_dir(&sub).unwrap();
    let cap = write_capture(&sub, "memray-demo.py.4242.bin", WriterOptions::default());
    let reference = stats(dir.path(), &["--json", cap.to_str().unwrap()]).stdout;
    let rel = "runs/memray-demo.py.4242.bin";
    let out = sub.join("memray-stats-demo.py.4242.bin.json");

    let o = memray(dir.path(), &["stats", "--json", rel]);
    assert_ok_quiet(&o);
    assert_eq!(
        o.stdout,
        "\nWrote runs/memray-stats-demo.py.4242.bin.json\n"
    );
    let written = fs::read_to_string(&out).unwrap();
    assert!(!written.ends_with('\n'), "a trailing newline was written");
    assert_eq!(format!("{written}\n"), reference);
    check_full_json(&written);

    // A second run refuses, after the progress line, and leaves the file alone.
    let o = memray(dir.path(), &["stats", "--json", "-n", "1", rel]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.stdout, "\n");
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.trim_end().ends_with(
            "File already exists, will not overwrite without --force: \
             runs/memray-stats-demo.py.4242.bin.json"
        ),
        "{}",
        o.stderr
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), written);

    // -f overwrites.
    let o = memray(dir.path(), &["stats", "--json", "-f", "-n", "1", rel]);
    assert_ok_quiet(&o);
    assert_eq!(
        o.stdout,
        "\nWrote runs/memray-stats-demo.py.4242.bin.json\n"
    );
    let again = fs::read_to_string(&out).unwrap();
    assert!(!again.ends_with('\n'));
    let v = parse(&again);
    assert_eq!(
        locations(&v, "top_allocations_by_count", "count"),
        owned(&[(LOC_MAKE_LIST, 3)])
    );

    // A name without the `memray-` prefix keeps it whole.
    let plain = write_capture(dir.path(), "nf.bin", WriterOptions::default());
    let o = memray(dir.path(), &["stats", "--json", plain.to_str().unwrap()]);
    assert_ok_quiet(&o);
    assert!(dir.path().join("memray-stats-nf.bin.json").is_file());
}

#[test]
fn bad_input_fails_with_one_line() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let good = capture_bytes(TINY_CHUNKS);

    fs::write(d.join("empty.bin"), b"").unwrap();
    fs::create_dir(d.join("adir")).unwrap();
    fs::write(d.join("text.bin"), b"this is not a memray capture\n").unwrap();
    let mut wrong_version = good.clone();
    wrong_version[8] = 4;
    fs::write(d.join("version.bin"), &wrong_version).unwrap();
    // Cut inside the file header: not even the process description survives.
    fs::write(d.join("header-cut.bin"), &good[..good.len().min(30)]).unwrap();
    fs::write(d.join("prefix-cut.bin"), &good[..10]).unwrap();
    // A chunk whose payload was damaged in the middle of an indexed capture.
    let mut corrupt = good.clone();
    let mid = footer_offset(&good) / 2;
    corrupt[mid] ^= 0xff;
    fs::write(d.join("corrupt.bin"), &corrupt).unwrap();
    // A damaged byte in the first chunk's payload (after the file header and chunk header).
    let data_start = 16 + u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
    let mut bad_payload = good.clone();
    bad_payload[data_start + 36] ^= 0xff;
    fs::write(d.join("bad-payload.bin"), &bad_payload).unwrap();

    let cases: &[(&str, &str)] = &[
        ("missing.bin", "No such file: missing.bin"),
        ("empty.bin", "empty"),
        ("adir", "adir: no memray captures in this directory"),
        ("text.bin", "not a memray capture"),
        ("version.bin", "version 4"),
        ("header-cut.bin", "truncated"),
        ("prefix-cut.bin", "truncated"),
        ("corrupt.bin", "corrupt"),
        ("bad-payload.bin", "checksum mismatch"),
    ];
    for (name, wanted) in cases {
        for json in [false, true] {
            let mut args = vec![*name];
            if json {
                args.insert(0, "--json");
            }
            let line = assert_one_line_error(&stats(d, &args), name);
            assert!(line.starts_with("memray-stats: "), "{name}: {line}");
            assert!(line.contains(wanted), "{name}: {line}");
        }
        let o = memray(d, &["stats", name]);
        assert_eq!(o.code, 1, "{name}");
        assert_eq!(o.stderr.lines().count(), 1, "{name}: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"));
    }

    // The same through stdin.
    for (name, wanted) in [
        ("empty.bin", "empty"),
        ("text.bin", "not a memray capture"),
        ("version.bin", "version 4"),
        ("header-cut.bin", "truncated"),
        ("prefix-cut.bin", "truncated"),
        ("bad-payload.bin", "checksum mismatch"),
    ] {
        let line = assert_one_line_error(&stats_stdin(d, &["-"], &d.join(name)), name);
        assert!(line.contains(wanted), "stdin {name}: {line}");
    }
}

#[test]
fn cut_short_capture_still_reports_with_a_warning() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let good = capture_bytes(TINY_CHUNKS);
    let footer = footer_offset(&good);
    let full = stats(
        d,
        &[
            "--json",
            write_capture(d, "full.bin", TINY_CHUNKS).to_str().unwrap(),
        ],
    );
    assert_ok_quiet(&full);

    let check_warning = |o: &Out, what: &str| {
        assert_eq!(o.code, 0, "{what}: {}", o.stderr);
        assert_eq!(o.stderr.lines().count(), 1, "{what}: {}", o.stderr);
        assert!(o.stderr.contains("cut short"), "{what}: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"));
    };

    // The footer is gone but every chunk is whole: the same figures, ending at the last sample.
    let no_footer = d.join("no-footer.bin");
    fs::write(&no_footer, &good[..footer]).unwrap();
    let mut want = parse(&full.stdout);
    want["metadata"]["end_time"] = json!("2023-11-14 22:13:21.234000+00:00");
    for o in [
        stats(d, &["--json", no_footer.to_str().unwrap()]),
        stats_stdin(d, &["-"], &no_footer),
    ] {
        check_warning(&o, "no footer");
        assert_eq!(parse(&o.stdout), want);
    }

    // Cut inside the last chunk (the record that made the peak): it is dropped, the rest stays.
    let mid_chunk = d.join("mid-chunk.bin");
    fs::write(&mid_chunk, &good[..footer - 3]).unwrap();
    for o in [
        stats(d, &["--json", mid_chunk.to_str().unwrap()]),
        stats_stdin(d, &["-"], &mid_chunk),
    ] {
        check_warning(&o, "mid chunk");
        let v = parse(&o.stdout);
        assert_eq!(v["total_num_allocations"], 8);
        assert_eq!(v["total_bytes_allocated"], 1_050_972);
        assert_eq!(v["metadata"]["peak_memory"], 1_049_640);
        assert_eq!(v["metadata"]["total_allocations"], 14);
        assert_eq!(
            v["metadata"]["end_time"],
            "2023-11-14 22:13:21.234000+00:00"
        );
        assert_eq!(v["top_allocations_by_size"][1]["location"], LOC_MAKE_LIST);
    }

    // The text report through the dispatcher too.
    let o = memray(d, &["stats", mid_chunk.to_str().unwrap()]);
    check_warning(&o, "dispatcher");
    assert!(o
        .stdout
        .starts_with("\n📏 Total allocations:\n\t8\n\n📦 Total memory allocated:\n\t1.051MB\n\n📈 Peak memory usage:\n\t1.050MB\n"));
}
