//! A killed tracker's journal: sealed raw chunks, then one open chunk (`FLAG_OPEN`) whose
//! `stored_len` counts the records committed so far, then zeros. Both readers take every
//! committed record and report the capture as incomplete.

use memray_format::chunk::{ChunkHeader, FLAG_OPEN};
use memray_format::file_layout::encode_file_header;
use memray_format::*;
use std::io::Cursor;

mod common;
use common::sizes_from_file;

fn header() -> Header {
    Header {
        pid: 7,
        main_thread_id: 1,
        command_line: "python3 prog.py".into(),
        ..Header::default()
    }
}

fn event(i: u64) -> Event {
    Event {
        allocator: AllocatorType::Malloc,
        thread: 1,
        address: 0x1000 + 64 * i,
        size: 100 + i,
        stack: 1,
        native_stack: 0,
    }
}

/// The journal after `sealed` events in one sealed chunk and `open` more in the open chunk;
/// `tail` bytes follow the committed part (what an interrupted copy or the zero padding leaves).
fn journal(sealed: u64, open: u64, tail: &[u8]) -> Vec<u8> {
    let mut out = encode_file_header(&header());
    let mut enc = RecordEncoder::new(1 << 20);
    let code = enc.define_code(&CodeDef {
        function: "f".into(),
        filename: "prog.py".into(),
        first_line: 1,
    });
    enc.define_node(&StackNode {
        parent: 0,
        code,
        line: 3,
        entry: true,
    });
    for i in 0..sealed {
        enc.event(&event(i));
    }
    let chunk = enc.take_chunk(Vec::new()).unwrap();
    out.extend(
        ChunkHeader {
            flags: 0,
            stored_len: chunk.payload.len() as u32,
            raw_len: chunk.payload.len() as u32,
            n_events: chunk.n_events,
            crc32: crc32fast::hash(&chunk.payload),
            ..Default::default()
        }
        .encode(),
    );
    out.extend(&chunk.payload);
    for i in sealed..sealed + open {
        enc.event(&event(i));
    }
    let (code_base, node_base, native_base) = enc.bases();
    let pending = enc.pending().to_vec();
    out.extend(
        ChunkHeader {
            flags: FLAG_OPEN,
            stored_len: pending.len() as u32,
            code_base,
            node_base,
            native_base,
            ..Default::default()
        }
        .encode(),
    );
    out.extend(&pending);
    out.extend(tail);
    out
}

fn sizes_from_stream(bytes: Vec<u8>) -> (Vec<u64>, bool) {
    let mut r = StreamReader::new(Cursor::new(bytes)).unwrap();
    let mut sizes = Vec::new();
    while let Some(c) = r.next_chunk().unwrap() {
        sizes.extend(c.events.iter().map(|e| e.size));
    }
    (sizes, r.is_complete())
}

#[test]
fn every_committed_record_is_read_from_the_open_chunk() {
    let want: Vec<u64> = (0..25).map(|i| 100 + i).collect();
    for tail in [&[][..], &[0u8; 4096][..], &[0x86, 0x01, 0x02][..]] {
        let bytes = journal(10, 15, tail);
        assert_eq!(sizes_from_file(bytes.clone()), (want.clone(), false));
        assert_eq!(sizes_from_stream(bytes), (want.clone(), false));
    }
}

#[test]
fn an_empty_or_damaged_open_chunk_is_left_out() {
    let first: Vec<u64> = (0..10).map(|i| 100 + i).collect();
    let bytes = journal(10, 0, &[0u8; 64]);
    assert_eq!(sizes_from_file(bytes.clone()), (first.clone(), false));
    assert_eq!(sizes_from_stream(bytes), (first.clone(), false));
    // A committed length running past the end of the file: the chunk is not whole.
    let mut bytes = journal(10, 5, &[]);
    bytes.pop();
    assert_eq!(sizes_from_file(bytes.clone()).0, first);
}

#[test]
fn version_1_files_are_still_read() {
    let mut bytes = journal(3, 0, &[]);
    bytes[8] = 1;
    assert_eq!(sizes_from_file(bytes).0, vec![100, 101, 102]);
}
