//! A killed tracker's journal with its ring (format version 3): the chunks appended after the
//! ring, then the ring's chunks that follow them, in order, through at most one open chunk.
//! File and stream readers read the same records.

use memray_format::chunk::{ChunkHeader, FLAG_OPEN};
use memray_format::file_layout::encode_file_header;
use memray_format::journal_ring::{ring_header, SLOT_OVERHEAD};
use memray_format::*;
use std::io::Cursor;

const SLOTS: u32 = 4;
const STRIDE: usize = 4096;
const PER_CHUNK: u64 = 3;

fn header() -> Header {
    Header {
        pid: 7,
        main_thread_id: 1,
        command_line: "python3 prog.py".into(),
        ..Header::default()
    }
}

/// Sizes of the events chunk `k` holds.
fn sizes_of(k: u64) -> Vec<u64> {
    (0..PER_CHUNK).map(|i| 1000 * k + i + 1).collect()
}

/// Chunk `k`'s header (sealed, or open) and payload.
fn chunk(k: u64, open: bool) -> (ChunkHeader, Vec<u8>) {
    let mut enc = RecordEncoder::new(1 << 20);
    for (i, size) in sizes_of(k).into_iter().enumerate() {
        enc.event(&Event {
            allocator: AllocatorType::Malloc,
            thread: 1,
            address: 0x1000 + 64 * i as u64,
            size,
            stack: 0,
            native_stack: 0,
        });
    }
    let c = enc.take_chunk(Vec::new()).unwrap();
    let n = c.payload.len() as u32;
    let h = if open {
        ChunkHeader {
            flags: FLAG_OPEN,
            stored_len: n,
            ..Default::default()
        }
    } else {
        ChunkHeader {
            flags: 0,
            stored_len: n,
            raw_len: n,
            n_events: c.n_events,
            crc32: crc32fast::hash(&c.payload),
            ..Default::default()
        }
    };
    (h, c.payload)
}

/// What a slot of the ring holds: nothing, or chunk `seq` (sealed or open).
#[derive(Clone, Copy)]
enum Slot {
    Unused,
    Sealed(u64),
    Open(u64),
}

/// A journal: header, ring with `slots`, then chunks `0..appended` in sequence; the file is cut
/// to `len` bytes when given.
fn journal(slots: [Slot; SLOTS as usize], appended: u64, len: Option<usize>) -> Vec<u8> {
    let mut out = encode_file_header(&header());
    out.extend(ring_header(SLOTS, STRIDE as u32).encode());
    for slot in slots {
        let mut s = vec![0u8; STRIDE];
        let (seq, open) = match slot {
            Slot::Unused => (None, false),
            Slot::Sealed(k) => (Some(k), false),
            Slot::Open(k) => (Some(k), true),
        };
        if let Some(k) = seq {
            let (h, payload) = chunk(k, open);
            s[..8].copy_from_slice(&(k + 1).to_le_bytes());
            s[8..SLOT_OVERHEAD].copy_from_slice(&h.encode());
            s[SLOT_OVERHEAD..SLOT_OVERHEAD + payload.len()].copy_from_slice(&payload);
        }
        out.extend(s);
    }
    for k in 0..appended {
        let (h, payload) = chunk(k, false);
        out.extend(h.encode());
        out.extend(payload);
    }
    if let Some(n) = len {
        out.truncate(n);
    }
    out
}

fn read_both(bytes: Vec<u8>) -> Vec<u64> {
    let f = CaptureFile::from_vec(bytes.clone()).unwrap();
    assert!(!f.is_complete());
    let mut from_file = Vec::new();
    f.for_each_chunk(|c| {
        from_file.extend(c.events.iter().map(|e| e.size));
        Ok(())
    })
    .unwrap();
    let mut r = StreamReader::new(Cursor::new(bytes)).unwrap();
    let mut from_stream = Vec::new();
    while let Some(c) = r.next_chunk().unwrap() {
        from_stream.extend(c.events.iter().map(|e| e.size));
    }
    assert!(!r.is_complete());
    assert_eq!(from_file, from_stream, "file and stream readers disagree");
    from_file
}

fn sizes(chunks: impl IntoIterator<Item = u64>) -> Vec<u64> {
    chunks.into_iter().flat_map(sizes_of).collect()
}

#[test]
fn the_ring_continues_the_appended_chunks() {
    use Slot::*;
    // Chunks 0 and 1 appended; 2 sealed and 3 open in the ring; the ring's copies of 0 and 1
    // are left alone.
    let bytes = journal([Sealed(0), Sealed(1), Sealed(2), Open(3)], 2, None);
    assert_eq!(read_both(bytes), sizes(0..4));
    // Wrapped around: slots hold 4, 5, 2, 3 with 0..4 appended.
    let bytes = journal([Sealed(4), Open(5), Sealed(2), Sealed(3)], 4, None);
    assert_eq!(read_both(bytes), sizes(0..6));
    // Nothing appended yet: the ring alone.
    let bytes = journal([Sealed(0), Open(1), Unused, Unused], 0, None);
    assert_eq!(read_both(bytes), sizes(0..2));
}

#[test]
fn the_ring_stops_at_a_gap_and_after_an_open_chunk() {
    use Slot::*;
    // Chunk 2 is nowhere: 3 cannot follow 1.
    let bytes = journal([Sealed(4), Sealed(1), Unused, Sealed(3)], 2, None);
    assert_eq!(read_both(bytes), sizes(0..2));
    // An open chunk (one that outgrew its slot) and then the next one opened: the first open
    // chunk ends the capture.
    let bytes = journal([Sealed(0), Open(1), Open(2), Unused], 1, None);
    assert_eq!(read_both(bytes), sizes(0..2));
}

#[test]
fn a_file_cut_inside_the_ring_reads_the_slots_it_has() {
    use Slot::*;
    let start = encode_file_header(&header()).len() + 36;
    // Cut in the middle of the third slot: slots 0 and 1 are whole.
    let bytes = journal(
        [Sealed(0), Open(1), Unused, Unused],
        0,
        Some(start + 2 * STRIDE + 100),
    );
    assert_eq!(read_both(bytes), sizes(0..2));
    // Cut right after the ring's header: nothing at all.
    let bytes = journal([Sealed(0), Unused, Unused, Unused], 0, Some(start));
    assert_eq!(read_both(bytes), Vec::<u64>::new());
}

#[test]
fn a_damaged_sealed_slot_ends_the_capture_there() {
    use Slot::*;
    let mut bytes = journal([Sealed(0), Sealed(1), Open(2), Unused], 0, None);
    let start = encode_file_header(&header()).len() + 36;
    // Flip a payload byte of chunk 1: its checksum fails.
    bytes[start + STRIDE + SLOT_OVERHEAD] ^= 0xff;
    assert_eq!(read_both(bytes), sizes(0..1));
}

#[test]
fn a_ring_anywhere_but_first_is_not_taken() {
    let mut bytes = encode_file_header(&header());
    let (h, payload) = chunk(0, false);
    bytes.extend(h.encode());
    bytes.extend(&payload);
    bytes.extend(ring_header(SLOTS, STRIDE as u32).encode());
    bytes.extend(vec![0u8; SLOTS as usize * STRIDE]);
    let f = CaptureFile::from_vec(bytes.clone()).unwrap();
    assert_eq!(f.chunks.len(), 1);
    let mut r = StreamReader::new(Cursor::new(bytes)).unwrap();
    assert!(r.next_chunk().unwrap().is_some());
    assert!(r.next_chunk().is_err());
}
