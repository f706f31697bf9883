//! `memray-table`: the JSON document of the page (rows merged or by thread, every view), its
//! default name and overwriting, and hostile names. The capture and its figures are in
//! `common/app.rs`.

mod common;

use common::app::{
    check_default_output_and_overwriting, check_missing_capture_is_one_clear_error,
    hostile_capture, hostile_page, report, setup, COMMAND_LINE, EVIL_CMD, EVIL_FILE, EVIL_FN,
    EVIL_THREAD,
};
use common::{ok, run};
use serde_json::json;

const TABLE: &str = env!("CARGO_BIN_EXE_memray-table");
const MEMRAY: &str = env!("CARGO_BIN_EXE_memray");

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
    let (dir, path) = check_default_output_and_overwriting(TABLE, "memray-table-app.py.4242.html");
    // Through the dispatcher.
    let p = path.to_str().unwrap();
    let out = ok(run(
        MEMRAY,
        dir.path(),
        &["table", "-o", "via-memray-table.html", p],
    ));
    assert_eq!(out, "Wrote via-memray-table.html\n");
}

#[test]
fn missing_capture_is_one_clear_error() {
    check_missing_capture_is_one_clear_error(TABLE);
}

/// Names that are hostile HTML stay text.
#[test]
fn hostile_names_are_escaped() {
    let h = hostile_capture();
    let doc = hostile_page(TABLE, &h);
    assert_eq!(doc["command_line"], EVIL_CMD);
    assert_eq!(doc["rows"][0]["thread"], format!("0x1 ({EVIL_THREAD})"));
    assert_eq!(
        doc["rows"][0]["location"],
        format!("{EVIL_FN} at {EVIL_FILE}:2")
    );
}
