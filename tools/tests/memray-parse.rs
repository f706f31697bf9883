//! `memray-parse`: one line per record of the capture in `common/demo.rs`, in file order,
//! from a file or standard input; the bad inputs and the terminal it refuses.

mod common;

use std::fs;

use common::cmd;
use common::demo::{bad_inputs, capture_bytes, write_capture};
use common::pty::on_terminal;
use common::raw::{finish, ok};
use tempfile::TempDir;

const PARSE: &str = env!("CARGO_BIN_EXE_memray-parse");

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

#[test]
fn reads_standard_input() {
    let dir = TempDir::new().unwrap();
    let cap = write_capture(dir.path(), "cap.bin");
    let mut c = cmd(PARSE, dir.path(), &["-"]);
    c.stdin(fs::File::open(&cap).unwrap());
    let o = finish(c.output().unwrap());
    assert!(ok(&o).text().starts_with("HEADER magic=MEMRAYRS"));
}

#[test]
fn bad_input_fails_with_one_line() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    for (name, wanted) in bad_inputs(d) {
        // memray-parse dumps one capture: a directory is no capture set here.
        let wanted = if name == "adir" {
            "No such file: adir"
        } else {
            wanted
        };
        let o = finish(cmd(PARSE, d, &[name]).output().unwrap());
        assert_eq!(o.code, 1, "{name}");
        assert_eq!(o.stderr.lines().count(), 1, "{name}: {}", o.stderr);
        assert!(o.stderr.contains(wanted), "{name}: {}", o.stderr);
        assert!(o
            .stderr
            .starts_with("memray-parse: Failed to parse allocation records in "));
    }
    // A missing argument is a usage error.
    assert_eq!(finish(cmd(PARSE, d, &[]).output().unwrap()).code, 2);
}

/// `memray-parse` refuses a terminal, as Memray does.
#[test]
fn a_terminal_is_refused() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    write_capture(d, "memray-x.bin");
    let (code, tty, err) = on_terminal(PARSE, d, &["memray-x.bin"], false);
    assert_eq!((code, tty.as_str()), (1, ""));
    assert_eq!(
        err,
        "memray-parse: You must redirect stdout to a file or shell pipeline.\n"
    );
}
