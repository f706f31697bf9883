//! The capture the export programs' tests read (`memray-transform`, `memray-parse`): known
//! events written with the format crate's writer, whose every figure the tests check against
//! the numbers worked out by hand below; and the bad inputs both must refuse in one line.
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

use std::fs;
use std::path::{Path, PathBuf};

use memray_format::{AllocatorType, CaptureWriter, Header, WriterOptions};

use super::{base_header, code, ev, node, thread_name};

pub const END_MS: u64 = 1_700_000_002_500;
pub const PEAK: u64 = 69_702;
pub const LEAKED: u64 = 49_412;

pub fn header() -> Header {
    Header {
        command_line: "memray run demo.py".into(),
        ..base_header()
    }
}

pub fn capture_bytes() -> Vec<u8> {
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

pub fn write_capture(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, capture_bytes()).unwrap();
    path
}

/// Writes the bad inputs into `dir` (a directory, an empty file, a text file, a capture with a
/// corrupt chunk) and returns each one's name with what its error must say.
pub fn bad_inputs(dir: &Path) -> [(&'static str, &'static str); 5] {
    fs::write(dir.join("empty.bin"), b"").unwrap();
    fs::write(dir.join("text.bin"), b"this is not a memray capture\n").unwrap();
    fs::create_dir(dir.join("adir")).unwrap();
    let good = capture_bytes();
    let mut corrupt = good.clone();
    let data_start = 16 + u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
    corrupt[data_start + 40] ^= 0xff;
    fs::write(dir.join("corrupt.bin"), &corrupt).unwrap();
    [
        ("missing.bin", "No such file: missing.bin"),
        ("adir", "adir: no memray captures in this directory"),
        ("empty.bin", "empty"),
        ("text.bin", "not a memray capture"),
        ("corrupt.bin", "checksum mismatch"),
    ]
}
