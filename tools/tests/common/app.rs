//! The capture the report programs' tests read (`memray-flamegraph`, `memray-table`,
//! `memray-summary`, `memray-tree`): known events from known stacks, written with the format
//! crate's writer, whose every node, row and line the tests check against figures worked out
//! by hand below (the analysis crate's `tests/views.rs` checks the data they are built from on
//! the same capture); and what those tests share.
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
use std::path::{Path, PathBuf};

use memray_format::{AllocatorType, CaptureWriter, Header, WriterOptions};
use serde_json::Value;
use tempfile::TempDir;

use super::{base_header, code, ev, memory_sample, node, ok, run, thread_name, START_MS};

pub const APP: &str = "/proj/app.py";
pub const LIB: &str = "/proj/lib.py";
pub const THREADING: &str = "/opt/python3.11/lib/threading.py";
pub const RUN_PY: &str = "/usr/lib/python3.11/site-packages/memray/commands/run.py";
pub const RUNPY: &str = "<frozen runpy>";
pub const IMPORTLIB: &str = "<frozen importlib._bootstrap>";
pub const COMMAND_LINE: &str = "python3 -m memray run app.py";

pub fn header() -> Header {
    Header {
        command_line: COMMAND_LINE.into(),
        site_packages: vec!["/usr/lib/python3.11/site-packages".into()],
        sys_path: vec!["/proj".into(), "/usr/lib/python3.11".into()],
        ..base_header()
    }
}

/// The capture described at the top of this file.
pub fn capture_bytes() -> Vec<u8> {
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
pub fn setup() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("memray-app.py.4242.bin");
    fs::write(&path, capture_bytes()).unwrap();
    (dir, path)
}

/// The JSON document embedded in a report page.
pub fn embedded_json(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"memray-data\">";
    let start = html.find(open).expect("no data element") + open.len();
    let len = html[start..].find("</script>").expect("unterminated data");
    serde_json::from_str(&html[start..start + len]).unwrap()
}

/// Writes a report with `program ARGS -o OUT` and returns its embedded document.
pub fn report(program: &str, dir: &Path, args: &[&str]) -> (String, Value) {
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

/// `program` (a report that writes a page) names it `name` beside the capture when run from
/// elsewhere, never overwrites it without `-f` (nor with an explicit `-o`), and replaces it
/// with `-f`. Returns the directory and the capture for more checks.
pub fn check_default_output_and_overwriting(program: &str, name: &str) -> (TempDir, PathBuf) {
    let (dir, path) = setup();
    let d = dir.path();
    let p = path.to_str().unwrap();
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
    (dir, path)
}

/// A capture that does not exist: one line on stderr, exit 1, nothing written.
pub fn check_missing_capture_is_one_clear_error(program: &str) {
    let dir = TempDir::new().unwrap();
    let o = run(program, dir.path(), &["nope.bin"]);
    assert_eq!(o.code, 1, "{program}");
    assert_eq!(o.stdout, "");
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("No such file: nope.bin"), "{}", o.stderr);
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}

/// A capture whose program, file, function and thread names are hostile HTML, and whose
/// source files exist (`app.py` in the directory; `rel.py` in its `src/`, found through the
/// program's `sys.path`).
pub struct Hostile {
    pub dir: TempDir,
    pub path: PathBuf,
    pub app: String,
}

pub const EVIL_FN: &str = "<img src=x onerror=alert(1)>";
pub const EVIL_FILE: &str = "</script><script>alert(2)</script>";
pub const EVIL_CMD: &str = "python3 app.py \"><img src=x onerror=alert(3)>\u{2028}";
pub const EVIL_THREAD: &str = "<script>alert(4)</script>";

pub fn hostile_capture() -> Hostile {
    let dir = TempDir::new().unwrap();
    let app = dir.path().join("app.py");
    fs::write(
        &app,
        "import os\n\ndef f():\n    return bytearray(10) # <b>x</b>\n",
    )
    .unwrap();
    let app_s = app.to_str().unwrap();
    // A script run as `python rel.py` from src/: found through the program's sys.path.
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("rel.py"), "x = 1\nkeep = bytearray(99)\n").unwrap();
    let mut h = header();
    h.command_line = EVIL_CMD.into();
    h.main_thread_skipped_frames = 0;
    h.sys_path = vec!["relative/ignored".into(), src.to_str().unwrap().into()];
    let mut w = CaptureWriter::new(Vec::new(), &h, WriterOptions::default()).unwrap();
    let c_f = code(&mut w, "f", app_s, 3);
    let c_evil = code(&mut w, EVIL_FN, EVIL_FILE, 1);
    let s_f = node(&mut w, 0, c_f, 4);
    let s_evil = node(&mut w, s_f, c_evil, 2);
    let c_rel = code(&mut w, "<module>", "rel.py", 1);
    let s_rel = node(&mut w, 0, c_rel, 2);
    thread_name(&mut w, 1, EVIL_THREAD);
    ev(&mut w, AllocatorType::Malloc, 1, 0x10, 1234, s_evil);
    ev(&mut w, AllocatorType::Malloc, 1, 0x20, 10, s_f);
    ev(&mut w, AllocatorType::Malloc, 1, 0x30, 99, s_rel);
    let bytes = w.finish(START_MS + 10).unwrap();
    let path = dir.path().join("evil.bin");
    fs::write(&path, bytes).unwrap();
    Hostile {
        app: app_s.to_string(),
        dir,
        path,
    }
}

/// `program --split-threads` on the hostile capture: a page with its own two script elements
/// and nothing else that could start markup. Returns the page's document.
pub fn hostile_page(program: &str, h: &Hostile) -> Value {
    let (html, doc) = report(
        program,
        h.dir.path(),
        &["--split-threads", h.path.to_str().unwrap()],
    );
    assert_eq!(html.matches("<script").count(), 2, "{program}");
    assert_eq!(html.matches("</script>").count(), 2, "{program}");
    for bad in ["<img", "alert(2)</", "\u{2028}"] {
        assert!(!html.contains(bad), "{program}: {bad:?} in the page");
    }
    doc
}
