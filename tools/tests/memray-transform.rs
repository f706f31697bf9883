//! `memray-transform` run directly and through the dispatcher (`memray transform`, Memray
//! 1.20's behaviour): every format's output is checked against the figures of the capture in
//! `common/demo.rs`, worked out by hand there, and the folded output is rendered by inferno's
//! flame graph library.

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;

use common::demo::{bad_inputs, write_capture, LEAKED, PEAK};
use common::pty::on_terminal;
use common::raw::{finish, ok, one_line_error, Out};
use common::{cmd, START_MS};
use memray_tools::transform::profile_proto::Profile;
use prost::Message;
use serde_json::{json, Value};
use tempfile::TempDir;

const TRANSFORM: &str = env!("CARGO_BIN_EXE_memray-transform");
const MEMRAY: &str = env!("CARGO_BIN_EXE_memray");

/// `memray-transform ARGS`, stdout a pipe.
fn transform(dir: &Path, args: &[&str]) -> Out {
    common::raw::run(TRANSFORM, dir, args)
}

/// `memray ARGS` through the dispatcher (Memray's behaviour), stdout a pipe.
fn memray(dir: &Path, args: &[&str]) -> Out {
    common::raw::run(MEMRAY, dir, args)
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
    for (name, wanted) in bad_inputs(d) {
        for format in ["csv", "pprof", "folded"] {
            let line = one_line_error(&transform(d, &[format, name]));
            assert!(line.starts_with("memray-transform: "), "{line}");
            assert!(line.contains(wanted), "{name}: {line}");
            // Nothing is left behind.
            assert!(!d.join(format!("memray-{format}-{name}")).exists());
        }
    }
    // Bad flags are usage errors.
    assert_eq!(transform(d, &["csv"]).code, 2);
    assert_eq!(
        transform(d, &["csv", "--temporary-allocation-threshold", "x", "a"]).code,
        2
    );
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
}
