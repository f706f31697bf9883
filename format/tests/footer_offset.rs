//! The footer offset in a capture's last 16 bytes is read from the file: a value that does not
//! point at the footer makes the capture corrupt (one line of error), however large it is, never
//! a panic. Found by hand for #19: 2^64 - 6 wrapped the bounds check and indexed past the end of
//! the file. A capture without its tail is one cut short: its chunks are found by scanning.

use memray_format::*;

mod common;
use common::sizes_from_file as sizes;

fn capture() -> Vec<u8> {
    let header = Header {
        pid: 1,
        main_thread_id: 1,
        start_time_ms: 1_700_000_000_000,
        file_format: FileFormat::AllAllocations,
        ..Header::default()
    };
    let options = WriterOptions {
        compression: Compression::Zstd(1),
        chunk_size: 64,
    };
    let mut w = CaptureWriter::new(Vec::new(), &header, options).unwrap();
    for i in 0..100u64 {
        w.event(&Event {
            allocator: AllocatorType::Malloc,
            thread: 1,
            address: 0x1000 + 16 * i,
            size: i + 1,
            stack: 0,
            native_stack: 0,
        })
        .unwrap();
    }
    w.finish(1_700_000_000_500).unwrap()
}

#[test]
fn a_footer_offset_that_does_not_fit_is_one_clear_error() {
    let intact = capture();
    let n = intact.len() as u64;
    let (all, complete) = sizes(intact.clone());
    assert!(complete);
    assert_eq!(all, (1..=100).collect::<Vec<u64>>());
    for offset in [
        u64::MAX - 5,
        u64::MAX - 11,
        u64::MAX,
        1 << 63,
        u64::from(u32::MAX),
        n + 100,
        n - 16,
        n - 17,
        1,
        0,
    ] {
        let mut bytes = intact.clone();
        let at = bytes.len() - 16;
        bytes[at..at + 8].copy_from_slice(&offset.to_le_bytes());
        let err = CaptureFile::from_vec(bytes).expect_err(&format!("footer offset {offset}"));
        let message = err.to_string();
        assert!(
            message.starts_with("the capture is corrupt at byte"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn without_its_tail_a_capture_reads_as_cut_short() {
    let intact = capture();
    let (all, _) = sizes(intact.clone());
    let (read, complete) = sizes(intact[..intact.len() - 16].to_vec());
    assert!(!complete);
    assert_eq!(read, all);
}
