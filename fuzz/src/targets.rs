//! The fuzz targets, one function of the input bytes each. A target returns normally on any
//! input, whatever the decoders make of it; a panic, an abort, a hang or runaway memory is the
//! bug the fuzzer reports.
//!
//! | target | decoders it reaches |
//! |---|---|
//! | `file` | file prefix and header, chunk headers, decompression, payloads, footer, index, tail, the scan of a capture cut short, the journal's ring; as mapped file and as stream |
//! | `tail` | the footer, its index and trailer, and the tail, behind a fixed valid capture |
//! | `records` | one chunk's records (definitions, events, native nodes, image maps, samples), then the replay and every report |
//! | `aggregate` | the same for a capture written with `--aggregate` |
//! | `live` | the socket stream as `memray-live` and `memray.SocketReader` read it |
//! | `report` | a whole capture through `Capture` → the parallel analysis → every report |

use std::sync::OnceLock;

use memray_analysis::definitions::Definitions;
use memray_analysis::live::LiveData;
use memray_analysis::replay::Replay;
use memray_analysis::{analyze, Analysis};
use memray_format::chunk::{decode_payload, ChunkHeader};
use memray_format::{Capture, CaptureFile, FileFormat, Header, StreamReader};

use crate::{checksums, reports, seeds};

/// The capture's bytes as a file reader maps them and as a stream reader receives them.
pub fn file(data: &[u8]) {
    let mut bytes = data.to_vec();
    checksums::fix(&mut bytes);
    if let Ok(mut stream) = StreamReader::new(&bytes[..]) {
        while let Ok(Some(_)) = stream.next_chunk() {}
    }
    if let Ok(f) = CaptureFile::from_vec(bytes) {
        for i in 0..f.chunks.len() {
            let _ = f.decode_chunk(i);
        }
    }
}

/// `data` as the footer and tail of a capture whose header and chunks are valid.
pub fn tail(data: &[u8]) {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    let body = BODY.get_or_init(|| {
        let whole = seeds::small_capture();
        let at = seeds::footer_offset(&whole).expect("a complete capture has a footer");
        whole[..at].to_vec()
    });
    let mut bytes = Vec::with_capacity(body.len() + data.len());
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(data);
    checksums::fix(&mut bytes);
    if let Ok(f) = CaptureFile::from_vec(bytes) {
        for i in 0..f.chunks.len() {
            let _ = f.decode_chunk(i);
        }
    }
}

/// One chunk's payload: `[flags][n_events: u32le][payload]` (see [`seeds::payload_input`]),
/// decoded, replayed and reported on.
pub fn records(data: &[u8]) {
    payload(data, FileFormat::AllAllocations);
}

/// [`records`] for a capture aggregated in the tracked process.
pub fn aggregate(data: &[u8]) {
    payload(data, FileFormat::AggregatedAllocations);
}

fn payload(data: &[u8], file_format: FileFormat) {
    let Some((flags, payload)) = seeds::split_payload_input(data) else {
        return;
    };
    let header = Header {
        main_thread_id: 1,
        native_traces: flags.native,
        trace_python_allocators: flags.trace_python_allocators,
        main_thread_skipped_frames: flags.skipped_frames,
        file_format,
        ..Header::default()
    };
    let len = payload.len() as u32;
    let chunk_header = ChunkHeader {
        stored_len: len,
        raw_len: len,
        n_events: flags.n_events,
        ..ChunkHeader::default()
    };
    let Ok(mut chunk) = decode_payload(&chunk_header, payload, 0) else {
        return;
    };
    let mut defs = Definitions::default();
    if defs.absorb(&mut chunk).is_err() {
        return;
    }
    let mut replay = Replay::new(reports::EVERY_OBSERVER);
    replay.feed(&chunk);
    if flags.symbolize {
        defs.symbolize_native();
    }
    reports::all(&replay.finish(defs, header, None));
}

/// The bytes a tracker streams to `memray live` or a `SocketReader`, read to their end.
pub fn live(data: &[u8]) {
    if let Ok(live) = LiveData::from_stream(data) {
        for merge in [true, false] {
            let groups = live.snapshot(merge);
            let _ = live.rows(&groups, 0.95);
        }
        let _ = (live.heap(), live.peak(), live.n_allocations());
        let _ = live.heap_history(60);
        let _ = live.elapsed_ms();
        for &t in live.threads() {
            let _ = live.thread_name(t);
        }
    }
}

/// A whole capture, read and analysed as every program reads it, then every report.
pub fn report(data: &[u8]) {
    let mut bytes = data.to_vec();
    checksums::fix(&mut bytes);
    let Ok(f) = CaptureFile::from_vec(bytes) else {
        return;
    };
    let mut capture = Capture::File(f);
    let analysis: Analysis = match analyze(&mut capture, reports::EVERY_OBSERVER) {
        Ok(a) => a,
        Err(_) => return,
    };
    reports::all(&analysis);
}
