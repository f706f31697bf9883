//! End-to-end tests of `memray-transform` and `memray-parse`, run directly and through the
//! dispatcher (`memray transform`, Memray 1.20's behaviour). A capture with known events is
//! written with the format crate's writer; every format's output is checked against figures
//! worked out by hand below, and the folded output is rendered by inferno's flame graph library.
//!
//! Thread 1 is the main thread; its outermost frame (`_run_tracker`) is hidden from reports
//! (`main_thread_skipped_frames = 1`). Thread 2 is named "worker".
//!
//! | #  | event                                   | stack (innermost first)         | heap  |
//! |----|-----------------------------------------|---------------------------------|-------|
//! | 1  | MALLOC  t1 0x1000 100                   | make_list:12 <module>:4         | 100   |
//! | 2  | MALLOC  t1 0x2000 200                   | make_list:12 <module>:4         | 300   |
//! | 3  | FREE    t1 0x1000                       |                                 | 200   |
//! | 4  | CALLOC  t2 0x3000 300                   | worker_fn:20                    | 500   |
//! | 5  | MMAP    t1 0x100000 65536               | <module>:6                      | 66036 |
//! | 6  | MUNMAP  t1 0x104000 16384 (splits it)   |                                 | 49652 |
//! | 7  | MALLOC  t1 0x4000 50                    | none                            | 49702 |
//! | 8  | MALLOC  t1 0x5000 20000                 | naïve (/proj/a,b.py):7 <module>:4 | 69702 (peak) |
//! | 9  | FREE    t1 0x5000                       |                                 | 49702 |
//! | 10 | FREE    t2 0x3000                       |                                 | 49402 |
//! | 11 | MALLOC  t2 0x6000 10                    | worker_fn:20                    | 49412 |
//! | 12 | MALLOC  t1 0x7000 0                     | <module>:9                      | 49412 |
//!
//! Peak (after #8), by first allocation: make_list 200 (1), worker_fn 300 (1, t2), <module>:6
//! 49152 (2 pieces), no stack 50 (1), naïve 20000 (1): 69702 bytes, 6 allocations.
//! Leaks: make_list 200 (1), <module>:6 49152 (2), no stack 50 (1), worker_fn 10 (1, t2),
//! <module>:9 0 (1): 49412 bytes, 6 allocations.
//! Temporary (threshold 1), in the order found: make_list 100 (#1, freed by #3), naïve 20000
//! (#8/#9), worker_fn 300 (#4/#10): 20400 bytes, 3 allocations.

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::{base_header, cmd, code, ev, node, thread_name, START_MS};
use memray_format::{AllocatorType, CaptureWriter, Header, WriterOptions};
use memray_tools::transform::profile_proto::Profile;
use prost::Message;
use serde_json::{json, Value};
use tempfile::TempDir;

const TRANSFORM: &str = env!("CARGO_BIN_EXE_memray-transform");
const PARSE: &str = env!("CARGO_BIN_EXE_memray-parse");
const MEMRAY: &str = env!("CARGO_BIN_EXE_memray");

const END_MS: u64 = 1_700_000_002_500;
const PEAK: u64 = 69_702;
const LEAKED: u64 = 49_412;

fn header() -> Header {
    Header {
        command_line: "memray run demo.py".into(),
        ..base_header()
    }
}

fn capture_bytes() -> Vec<u8> {
    let mut w = CaptureWriter::new(Vec::new(), &header(), WriterOptions::default()).unwrap();
    let run_tracker = code(&mut w, "_run_tracker", "/venv/memray/commands/run.py", 1);
    let module = code(&mut w, "<module>", "/proj/demo.py", 1);
    let make_list = code(&mut w, "make_list", "/proj/demo.py", 1);
    let worker_fn = code(&mut w, "worker_fn", "/proj/demo.py", 1);
    let naive = code(&mut w, "naïve", "/proj/a,b.py", 1);
    let n_tracker = node(&mut w, 0, run_tracker, 83);
    let s_module_4 = node(&mut w, n_tracker, module, 4);
    let s_make_list = node(&mut w, s_module_4, make_list, 12);
    let s_module_6 = node(&mut w, n_tracker, module, 6);
    let s_worker = node(&mut w, 0, worker_fn, 20);
    let s_naive = node(&mut w, s_module_4, naive, 7);
    let s_module_9 = node(&mut w, n_tracker, module, 9);
    thread_name(&mut w, 2, "worker");
    use AllocatorType::*;
    let events = [
        (Malloc, 1, 0x1000, 100, s_make_list),
        (Malloc, 1, 0x2000, 200, s_make_list),
        (Free, 1, 0x1000, 0, 0),
        (Calloc, 2, 0x3000, 300, s_worker),
        (Mmap, 1, 0x10_0000, 65_536, s_module_6),
        (Munmap, 1, 0x10_4000, 16_384, 0),
        (Malloc, 1, 0x4000, 50, 0),
        (Malloc, 1, 0x5000, 20_000, s_naive),
        (Free, 1, 0x5000, 0, 0),
        (Free, 2, 0x3000, 0, 0),
        (Malloc, 2, 0x6000, 10, s_worker),
        (Malloc, 1, 0x7000, 0, s_module_9),
    ];
    for (allocator, thread, address, size, stack) in events {
        ev(&mut w, allocator, thread, address, size, stack);
    }
    w.finish(END_MS).unwrap()
}

fn write_capture(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, capture_bytes()).unwrap();
    path
}

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }
}

fn finish(out: Output) -> Out {
    Out {
        code: out.status.code().expect("killed by a signal"),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `memray-transform ARGS`, stdout a pipe.
fn transform(dir: &Path, args: &[&str]) -> Out {
    finish(cmd(TRANSFORM, dir, args).output().unwrap())
}

/// `memray ARGS` through the dispatcher (Memray's behaviour), stdout a pipe.
fn memray(dir: &Path, args: &[&str]) -> Out {
    finish(cmd(MEMRAY, dir, args).output().unwrap())
}

fn ok(o: &Out) -> &Out {
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    assert_eq!(o.stderr, "", "unexpected stderr");
    o
}

fn one_line_error(o: &Out) -> String {
    assert_eq!(o.code, 1, "stderr {:?}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{:?}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{:?}", o.stderr);
    assert!(o.stdout.is_empty(), "{:?}", o.text());
    o.stderr.trim_end().to_string()
}

/// The peak view's rows, as Memray's csv writer lays them out.
const PEAK_CSV: &str = "allocator,num_allocations,size,tid,thread_name,stack_trace\r\n\
    MALLOC,1,200,1,0x1,make_list;/proj/demo.py;12|<module>;/proj/demo.py;4\r\n\
    CALLOC,1,300,2,0x2 (worker),worker_fn;/proj/demo.py;20\r\n\
    MMAP,2,49152,1,0x1,<module>;/proj/demo.py;6\r\n\
    MALLOC,1,50,1,0x1,\r\n\
    MALLOC,1,20000,1,0x1,\"naïve;/proj/a,b.py;7|<module>;/proj/demo.py;4\"\r\n";

#[test]
fn csv_peak_leaks_and_temporary_are_exact() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "cap.bin");
    let cap = cap.to_str().unwrap();
    assert_eq!(ok(&transform(dir.path(), &["csv", cap])).text(), PEAK_CSV);
    assert_eq!(
        ok(&transform(dir.path(), &["csv", "--leaks", cap])).text(),
        "allocator,num_allocations,size,tid,thread_name,stack_trace\r\n\
         MALLOC,1,200,1,0x1,make_list;/proj/demo.py;12|<module>;/proj/demo.py;4\r\n\
         MMAP,2,49152,1,0x1,<module>;/proj/demo.py;6\r\n\
         MALLOC,1,50,1,0x1,\r\n\
         MALLOC,1,10,2,0x2 (worker),worker_fn;/proj/demo.py;20\r\n\
         MALLOC,1,0,1,0x1,<module>;/proj/demo.py;9\r\n"
    );
    let temporary = "allocator,num_allocations,size,tid,thread_name,stack_trace\r\n\
         MALLOC,1,100,1,0x1,make_list;/proj/demo.py;12|<module>;/proj/demo.py;4\r\n\
         MALLOC,1,20000,1,0x1,\"naïve;/proj/a,b.py;7|<module>;/proj/demo.py;4\"\r\n\
         CALLOC,1,300,2,0x2 (worker),worker_fn;/proj/demo.py;20\r\n";
    for flags in [
        &["--temporary-allocations"][..],
        &["--temporary-allocation-threshold", "1"],
        &["--temporary-allocation-threshold=1"],
    ] {
        let mut args = vec!["csv"];
        args.extend_from_slice(flags);
        args.push(cap);
        assert_eq!(
            ok(&transform(dir.path(), &args)).text(),
            temporary,
            "{flags:?}"
        );
    }
    // With N=0 an allocation is temporary only when freed before any other allocation:
    // #1 is not (#2 came first), #8 is, #4 is (thread 2 allocated nothing in between).
    assert_eq!(
        ok(&transform(
            dir.path(),
            &["csv", "--temporary-allocation-threshold", "0", cap]
        ))
        .text(),
        "allocator,num_allocations,size,tid,thread_name,stack_trace\r\n\
         MALLOC,1,20000,1,0x1,\"naïve;/proj/a,b.py;7|<module>;/proj/demo.py;4\"\r\n\
         CALLOC,1,300,2,0x2 (worker),worker_fn;/proj/demo.py;20\r\n"
    );
    // The view flags exclude each other (a usage error).
    let o = transform(
        dir.path(),
        &["csv", "--leaks", "--temporary-allocations", cap],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[test]
fn gprof2dot_is_memrays_json() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "cap.bin");
    let o = transform(dir.path(), &["gprof2dot", cap.to_str().unwrap()]);
    // One line, Python's json.dump separators, ASCII only; the event without a Python stack
    // (50 bytes) is left out, as Memray does.
    assert_eq!(
        ok(&o).text(),
        "{\"version\": 0, \"costs\": [{\"description\": \"Memory\", \"unit\": \"bytes\"}], \
         \"events\": [{\"callchain\": [0, 1], \"cost\": [200]}, {\"callchain\": [2], \"cost\": [300]}, \
         {\"callchain\": [1], \"cost\": [49152]}, {\"callchain\": [3, 1], \"cost\": [20000]}], \
         \"functions\": [{\"name\": \"make_list\", \"module\": \"/proj/demo.py\"}, \
         {\"name\": \"<module>\", \"module\": \"/proj/demo.py\"}, \
         {\"name\": \"worker_fn\", \"module\": \"/proj/demo.py\"}, \
         {\"name\": \"na\\u00efve\", \"module\": \"/proj/a,b.py\"}]}"
    );
}

#[test]
fn speedscope_profiles_are_exact() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "cap.bin");
    let o = transform(dir.path(), &["speedscope", cap.to_str().unwrap()]);
    let text = ok(&o).text();
    assert!(text.is_ascii() && !text.contains('\n'));
    let v: Value = serde_json::from_str(&text).unwrap();
    let frame =
        |name: &str, file: &str, line: u32| json!({"name": name, "file": file, "line": line});
    assert_eq!(
        v,
        json!({
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": [
                frame("<module>", "/proj/demo.py", 4),
                frame("make_list", "/proj/demo.py", 12),
                frame("worker_fn", "/proj/demo.py", 20),
                frame("<module>", "/proj/demo.py", 6),
                frame("naïve", "/proj/a,b.py", 7),
            ]},
            "profiles": [
                {"type": "sampled", "name": "Memory", "unit": "bytes", "startValue": 0,
                 "endValue": 69652, "samples": [[0, 1], [2], [3], [0, 4]],
                 "weights": [200, 300, 49152, 20000]},
                {"type": "sampled", "name": "Allocations", "unit": "none", "startValue": 0,
                 "endValue": 5, "samples": [[0, 1], [2], [3], [0, 4]],
                 "weights": [1, 1, 2, 1]},
            ],
            "name": "memray run demo.py",
            "activeProfileIndex": 0,
            "exporter": format!("memray@{}", env!("CARGO_PKG_VERSION")),
        })
    );
    // Key order as Memray writes it.
    let keys: Vec<usize> = [
        "$schema",
        "shared",
        "profiles",
        "\"name\": \"memray",
        "activeProfileIndex",
        "exporter",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");

    // Leaks: the zero-byte group has no weight in "Memory" but counts in "Allocations".
    let o = transform(
        dir.path(),
        &["speedscope", "--leaks", cap.to_str().unwrap()],
    );
    let v: Value = serde_json::from_slice(&ok(&o).stdout).unwrap();
    assert_eq!(v["profiles"][0]["weights"], json!([200, 49152, 10]));
    assert_eq!(v["profiles"][0]["endValue"], json!(49362));
    assert_eq!(v["profiles"][1]["weights"], json!([1, 2, 1, 1]));
    assert_eq!(v["profiles"][1]["samples"].as_array().unwrap().len(), 4);
}

const PEAK_FOLDED: &str = "<module> (/proj/demo.py:4);make_list (/proj/demo.py:12) 200\n\
    worker_fn (/proj/demo.py:20) 300\n\
    <module> (/proj/demo.py:6) 49152\n\
    <stack trace unavailable> 50\n\
    <module> (/proj/demo.py:4);naïve (/proj/a,b.py:7) 20000\n";

#[test]
fn folded_adds_up_to_the_view_and_inferno_renders_it() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "cap.bin");
    let o = transform(dir.path(), &["folded", cap.to_str().unwrap()]);
    let folded = ok(&o).text();
    assert_eq!(folded, PEAK_FOLDED);
    let total: u64 = folded
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, PEAK);

    let o = transform(dir.path(), &["folded", "--leaks", cap.to_str().unwrap()]);
    let leaks = ok(&o).text();
    let total: u64 = leaks
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, LEAKED);
    assert!(
        !leaks.contains(":9)"),
        "zero-byte stacks are left out: {leaks}"
    );

    // inferno's flame graph library reads it and accounts for every byte.
    let mut opts = inferno::flamegraph::Options::default();
    opts.count_name = "bytes".to_string();
    let mut svg = Vec::new();
    inferno::flamegraph::from_reader(&mut opts, folded.as_bytes(), &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.starts_with("<?xml"), "{}", &svg[..100.min(svg.len())]);
    assert!(
        svg.contains("all (69,702 bytes, 100%)"),
        "no total in the SVG"
    );
    assert!(
        svg.contains("make_list (/proj/demo.py:12) (200 bytes"),
        "{svg}"
    );
    assert!(
        svg.contains("naïve (/proj/a,b.py:7) (20,000 bytes"),
        "{svg}"
    );
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("not gzip");
    out
}

/// (function, file, line) of every location of a sample, leaf first.
fn sample_stack(p: &Profile, s: &memray_tools::transform::profile_proto::Sample) -> Vec<String> {
    let st = |i: i64| p.string_table[i as usize].clone();
    s.location_id
        .iter()
        .map(|id| {
            let loc = p.location.iter().find(|l| l.id == *id).unwrap();
            assert_eq!(loc.line.len(), 1);
            let f = p
                .function
                .iter()
                .find(|f| f.id == loc.line[0].function_id)
                .unwrap();
            format!("{}:{}:{}", st(f.name), st(f.filename), loc.line[0].line)
        })
        .collect()
}

#[test]
fn pprof_decodes_and_adds_up() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "cap.bin");
    let o = transform(dir.path(), &["pprof", cap.to_str().unwrap()]);
    let p = Profile::decode(gunzip(&ok(&o).stdout).as_slice()).unwrap();
    let st = |i: i64| p.string_table[i as usize].as_str();
    assert_eq!(p.string_table[0], "");
    let types: Vec<(&str, &str)> = p
        .sample_type
        .iter()
        .map(|t| (st(t.r#type), st(t.unit)))
        .collect();
    assert_eq!(
        types,
        [("inuse_space", "bytes"), ("inuse_objects", "count")]
    );
    assert_eq!(st(p.default_sample_type), "inuse_space");
    assert_eq!(p.time_nanos, START_MS as i64 * 1_000_000);
    assert_eq!(p.duration_nanos, 2_500_000_000);
    assert_eq!(p.mapping.len(), 1);
    let total: Vec<i64> = (0..2)
        .map(|i| p.sample.iter().map(|s| s.value[i]).sum())
        .collect();
    assert_eq!(total, [PEAK as i64, 6]);
    let rows: Vec<(Vec<String>, Vec<i64>, i64)> = p
        .sample
        .iter()
        .map(|s| {
            let tid = s
                .label
                .iter()
                .find(|l| st(l.key) == "thread_id")
                .unwrap()
                .num;
            (sample_stack(&p, s), s.value.clone(), tid)
        })
        .collect();
    let stack = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rows,
        vec![
            (
                stack(&["make_list:/proj/demo.py:12", "<module>:/proj/demo.py:4"]),
                vec![200, 1],
                1
            ),
            (stack(&["worker_fn:/proj/demo.py:20"]), vec![300, 1], 2),
            (stack(&["<module>:/proj/demo.py:6"]), vec![49152, 2], 1),
            (stack(&["<stack trace unavailable>::0"]), vec![50, 1], 1),
            (
                stack(&["naïve:/proj/a,b.py:7", "<module>:/proj/demo.py:4"]),
                vec![20000, 1],
                1
            ),
        ]
    );
    // The worker's sample carries its name.
    let worker = &p.sample[1];
    let name = worker
        .label
        .iter()
        .find(|l| st(l.key) == "thread_name")
        .unwrap();
    assert_eq!(st(name.str), "worker");
    assert!(p.sample[0].label.iter().all(|l| st(l.key) != "thread_name"));
    // Locations and functions are shared: <module> is one function with two lines.
    assert_eq!(p.function.len(), 5);
    assert_eq!(p.location.len(), 6);

    // Temporary allocations are allocation profiles.
    let o = transform(
        dir.path(),
        &["pprof", "--temporary-allocations", cap.to_str().unwrap()],
    );
    let p = Profile::decode(gunzip(&ok(&o).stdout).as_slice()).unwrap();
    let st = |i: i64| p.string_table[i as usize].as_str();
    assert_eq!(st(p.sample_type[0].r#type), "alloc_space");
    assert_eq!(st(p.sample_type[1].r#type), "alloc_objects");
    let bytes: i64 = p.sample.iter().map(|s| s.value[0]).sum();
    assert_eq!(bytes, 20_400);
}

#[test]
fn standard_input_and_output() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "cap.bin");
    let mut c = cmd(TRANSFORM, dir.path(), &["folded", "-"]);
    c.stdin(fs::File::open(&cap).unwrap());
    assert_eq!(ok(&finish(c.output().unwrap())).text(), PEAK_FOLDED);
    // -o - writes to stdout, also through the dispatcher.
    let o = transform(dir.path(), &["csv", "-o", "-", cap.to_str().unwrap()]);
    assert_eq!(ok(&o).text(), PEAK_CSV);
    let o = memray(dir.path(), &["transform", "csv", "-o", "-", "cap.bin"]);
    assert_eq!(ok(&o).text(), PEAK_CSV);
    let mut c = cmd(PARSE, dir.path(), &["-"]);
    c.stdin(fs::File::open(&cap).unwrap());
    let o = finish(c.output().unwrap());
    assert!(ok(&o).text().starts_with("HEADER magic=MEMRAYRS"));
}

#[test]
fn output_files_are_never_overwritten_without_force() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    write_capture(d, "cap.bin");
    let o = transform(d, &["csv", "-o", "out.csv", "cap.bin"]);
    assert_eq!(ok(&o).text(), "Wrote out.csv\n");
    assert_eq!(fs::read_to_string(d.join("out.csv")).unwrap(), PEAK_CSV);
    fs::write(d.join("out.csv"), "keep").unwrap();
    let line = one_line_error(&transform(d, &["csv", "-o", "out.csv", "cap.bin"]));
    assert_eq!(
        line,
        "memray-transform: File already exists, will not overwrite without --force: out.csv"
    );
    assert_eq!(fs::read_to_string(d.join("out.csv")).unwrap(), "keep");
    ok(&transform(d, &["csv", "-f", "-o", "out.csv", "cap.bin"]));
    assert_eq!(fs::read_to_string(d.join("out.csv")).unwrap(), PEAK_CSV);
}

#[test]
fn memray_transform_behaves_like_memray() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let sub = d.join("runs");
    fs::create_dir(&sub).unwrap();
    write_capture(&sub, "memray-demo.py.4242.bin");
    let cap = "runs/memray-demo.py.4242.bin";
    for (format, name) in [
        ("csv", "memray-csv-demo.py.4242.csv"),
        ("CSV", "memray-csv-demo.py.4242.csv"),
        (
            "speedscope",
            "memray-speedscope-demo.py.4242.speedscope.json",
        ),
        ("folded", "memray-folded-demo.py.4242.folded"),
        ("pprof", "memray-pprof-demo.py.4242.pb.gz"),
    ] {
        let _ = fs::remove_file(sub.join(name));
        let o = memray(d, &["transform", format, cap]);
        // Memray's two progress bars leave two empty lines when stdout is not a terminal.
        assert_eq!(
            ok(&o).text(),
            format!("\n\nWrote runs/{name}\n"),
            "{format}"
        );
        assert!(sub.join(name).is_file(), "{name}");
    }
    assert_eq!(
        fs::read_to_string(sub.join("memray-csv-demo.py.4242.csv")).unwrap(),
        PEAK_CSV
    );

    // Memray refuses before reading anything (no progress lines).
    let o = memray(d, &["transform", "csv", cap]);
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout, b"");
    assert!(o.stderr.trim_end().ends_with(
        "File already exists, will not overwrite without --force: runs/memray-csv-demo.py.4242.csv"
    ));
    ok(&memray(d, &["transform", "csv", "-f", cap]));

    // gprof2dot: Memray's advice on how to render the file follows.
    let o = memray(d, &["transform", "gprof2dot", cap]);
    let text = ok(&o).text();
    assert!(
        text.starts_with("\n\nWrote runs/memray-gprof2dot-demo.py.4242.json\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "\nTo generate a graph from the transform file, run for example:\n\
             gprof2dot -f json runs/memray-gprof2dot-demo.py.4242.json | dot -Tpng -o output.png\n"
        ) || text.contains(" -f json runs/memray-gprof2dot-demo.py.4242.json | dot -Tpng"),
        "{text}"
    );

    // An unknown format is an error (exit 1) for Memray, a usage error (exit 2) otherwise.
    let o = memray(d, &["transform", "svg", cap]);
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr, "Format not supported: svg\n");
    let o = transform(d, &["svg", cap]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("Format not supported: svg"),
        "{}",
        o.stderr
    );
    assert!(o
        .stderr
        .contains("gprof2dot, csv, speedscope, folded, pprof"));

    let line = one_line_error(&memray(d, &["transform", "csv", "missing.bin"]));
    assert!(line.ends_with("No such file: missing.bin"), "{line}");
}

#[test]
fn bad_input_fails_with_one_line() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    fs::write(d.join("empty.bin"), b"").unwrap();
    fs::write(d.join("text.bin"), b"this is not a memray capture\n").unwrap();
    fs::create_dir(d.join("adir")).unwrap();
    let good = capture_bytes();
    let mut corrupt = good.clone();
    let data_start = 16 + u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
    corrupt[data_start + 40] ^= 0xff;
    fs::write(d.join("corrupt.bin"), &corrupt).unwrap();
    for (name, wanted) in [
        ("missing.bin", "No such file: missing.bin"),
        ("adir", "No such file: adir"),
        ("empty.bin", "empty"),
        ("text.bin", "not a memray capture"),
        ("corrupt.bin", "checksum mismatch"),
    ] {
        for format in ["csv", "pprof", "folded"] {
            let line = one_line_error(&transform(d, &[format, name]));
            assert!(line.starts_with("memray-transform: "), "{line}");
            assert!(line.contains(wanted), "{name}: {line}");
            // Nothing is left behind.
            assert!(!d.join(format!("memray-{format}-{name}")).exists());
        }
        let o = finish(cmd(PARSE, d, &[name]).output().unwrap());
        assert_eq!(o.code, 1, "{name}");
        assert_eq!(o.stderr.lines().count(), 1, "{name}: {}", o.stderr);
        assert!(o.stderr.contains(wanted), "{name}: {}", o.stderr);
        assert!(o
            .stderr
            .starts_with("memray-parse: Failed to parse allocation records in "));
    }
    // Bad flags are usage errors.
    assert_eq!(transform(d, &["csv"]).code, 2);
    assert_eq!(
        transform(d, &["csv", "--temporary-allocation-threshold", "x", "a"]).code,
        2
    );
    assert_eq!(finish(cmd(PARSE, d, &[]).output().unwrap()).code, 2);
}

#[test]
fn parse_prints_one_line_per_record_in_file_order() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "cap.bin");
    let o = finish(
        cmd(PARSE, dir.path(), &[cap.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    let text = ok(&o).text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with(
        "HEADER magic=MEMRAYRS version=3 python_version=3.11.7 native_traces=false \
         file_format=ALL_ALLOCATIONS start_time=1700000000000 pid=4242 main_tid=1 \
         skipped_frames_on_main_tid=1 command_line=memray run demo.py python_allocator=pymalloc"
    ));
    assert!(lines[0].ends_with("libdest=/usr/lib/python3.11 site_packages=[] sys.path=[/proj]"));
    assert!(lines[1].starts_with("CHUNK offset="), "{}", lines[1]);
    assert!(lines[1].contains(" n_events=12 code_base=0 node_base=0 native_base=0"));
    let body: Vec<&str> = lines[2..lines.len() - 1].to_vec();
    assert_eq!(
        body,
        [
            "CODE_OBJECT code_id=0 function_name=_run_tracker filename=/venv/memray/commands/run.py firstlineno=1",
            "CODE_OBJECT code_id=1 function_name=<module> filename=/proj/demo.py firstlineno=1",
            "CODE_OBJECT code_id=2 function_name=make_list filename=/proj/demo.py firstlineno=1",
            "CODE_OBJECT code_id=3 function_name=worker_fn filename=/proj/demo.py firstlineno=1",
            "CODE_OBJECT code_id=4 function_name=naïve filename=/proj/a,b.py firstlineno=1",
            "FRAME frame_id=1 parent=0 code_id=0 lineno=83",
            "FRAME frame_id=2 parent=1 code_id=1 lineno=4",
            "FRAME frame_id=3 parent=2 code_id=2 lineno=12",
            "FRAME frame_id=4 parent=1 code_id=1 lineno=6",
            "FRAME frame_id=5 parent=0 code_id=3 lineno=20",
            "FRAME frame_id=6 parent=2 code_id=4 lineno=7",
            "FRAME frame_id=7 parent=1 code_id=1 lineno=9",
            "THREAD tid=2 name=worker",
            "CONTEXT_SWITCH tid=1",
            "ALLOCATION tid=1 address=0x1000 size=100 allocator=malloc stack_id=3 native_frame_id=0",
            "ALLOCATION tid=1 address=0x2000 size=200 allocator=malloc stack_id=3 native_frame_id=0",
            "ALLOCATION tid=1 address=0x1000 size=0 allocator=free stack_id=0 native_frame_id=0",
            "CONTEXT_SWITCH tid=2",
            "ALLOCATION tid=2 address=0x3000 size=300 allocator=calloc stack_id=5 native_frame_id=0",
            "CONTEXT_SWITCH tid=1",
            "ALLOCATION tid=1 address=0x100000 size=65536 allocator=mmap stack_id=4 native_frame_id=0",
            "ALLOCATION tid=1 address=0x104000 size=16384 allocator=munmap stack_id=0 native_frame_id=0",
            "ALLOCATION tid=1 address=0x4000 size=50 allocator=malloc stack_id=0 native_frame_id=0",
            "ALLOCATION tid=1 address=0x5000 size=20000 allocator=malloc stack_id=6 native_frame_id=0",
            "ALLOCATION tid=1 address=0x5000 size=0 allocator=free stack_id=0 native_frame_id=0",
            "CONTEXT_SWITCH tid=2",
            "ALLOCATION tid=2 address=0x3000 size=0 allocator=free stack_id=0 native_frame_id=0",
            "ALLOCATION tid=2 address=0x6000 size=10 allocator=malloc stack_id=5 native_frame_id=0",
            "CONTEXT_SWITCH tid=1",
            "ALLOCATION tid=1 address=0x7000 size=0 allocator=malloc stack_id=7 native_frame_id=0",
        ]
    );
    assert_eq!(
        lines[lines.len() - 1],
        "TRAILER end_time=1700000002500 n_allocations=8 n_deallocations=4 n_codes=5 \
         n_frames=7 n_native_frames=0 n_memory_records=0"
    );

    // A capture cut short: everything up to the last complete chunk, then says so.
    let bytes = capture_bytes();
    let cut = dir.path().join("cut.bin");
    fs::write(&cut, &bytes[..bytes.len() - 20]).unwrap();
    let o = finish(cmd(PARSE, dir.path(), &["cut.bin"]).output().unwrap());
    let text = ok(&o).text();
    assert_eq!(text.lines().count(), lines.len());
    assert!(
        text.ends_with("TRAILER missing (the capture was cut short)\n"),
        "{text}"
    );
}

/// Runs `program ARGS` with a pseudo-terminal as its standard output; returns its exit code,
/// what it wrote to the terminal and its stderr.
fn on_terminal(program: &str, dir: &Path, args: &[&str], compat: bool) -> (i32, String, String) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills in two new file descriptors, owned below.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut c = cmd(program, dir, args);
    if compat {
        c.env("MEMRAY_COMPAT", "1");
    }
    let child = c
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    drop(c);
    let mut tty = Vec::new();
    let mut f = fs::File::from(master);
    // Read what is buffered without blocking for more once the child is gone.
    // SAFETY: setting O_NONBLOCK on our own descriptor.
    unsafe {
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
        );
    }
    let mut buf = [0u8; 4096];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        tty.extend_from_slice(&buf[..n]);
    }
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&tty).replace("\r\n", "\n"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_terminal_gets_a_file_not_data() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    write_capture(d, "memray-x.bin");
    let (code, tty, err) = on_terminal(TRANSFORM, d, &["csv", "memray-x.bin"], false);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(tty, "Wrote memray-csv-x.csv\n");
    assert_eq!(
        fs::read_to_string(d.join("memray-csv-x.csv")).unwrap(),
        PEAK_CSV
    );
    // Through `memray`, no progress lines on a terminal (Memray's bar erases itself).
    let (code, tty, _) = on_terminal(TRANSFORM, d, &["folded", "memray-x.bin"], true);
    assert_eq!((code, tty.as_str()), (0, "Wrote memray-folded-x.folded\n"));
    // Binary data never goes to a terminal.
    let (code, tty, err) = on_terminal(TRANSFORM, d, &["pprof", "-o", "-", "memray-x.bin"], false);
    assert_eq!((code, tty.as_str()), (1, ""));
    assert!(
        err.contains("refusing to write binary pprof data to a terminal"),
        "{err}"
    );
    // memray-parse refuses a terminal, as Memray does.
    let (code, tty, err) = on_terminal(PARSE, d, &["memray-x.bin"], false);
    assert_eq!((code, tty.as_str()), (1, ""));
    assert_eq!(
        err,
        "memray-parse: You must redirect stdout to a file or shell pipeline.\n"
    );
}
