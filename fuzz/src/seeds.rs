//! Seed inputs for the targets: real captures as they are and re-written without compression
//! (so that mutations land in records rather than in compressed bytes), their chunks' payloads
//! as `records`/`aggregate` inputs, and a few captures built here (a small complete one whose
//! footer seeds `tail`, and a journal cut short with its ring).

use memray_format::chunk::{ChunkHeader, CHUNK_HEADER_LEN, FLAG_OPEN};
use memray_format::file_layout::{encode_file_header, TAIL_LEN, TAIL_MAGIC};
use memray_format::journal_ring::{ring_header, SLOT_PREFIX_LEN};
use memray_format::{
    AllocatorType, CaptureFile, CaptureWriter, ChunkFileWriter, CodeDef, Compression, Event,
    FileFormat, Header, MemorySample, RawChunk, StackNode, ThreadName, WriterOptions,
};

/// How a `records`/`aggregate` input's first byte and the word after it set up its chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayloadFlags {
    /// The capture has native stacks (bit 0).
    pub native: bool,
    /// The capture traced Python's allocators (bit 1).
    pub trace_python_allocators: bool,
    /// Native frames are symbolized (bit 2; this reads the objects the image maps name).
    pub symbolize: bool,
    /// Outermost main-thread frames hidden (bits 4–7).
    pub skipped_frames: u32,
    /// The chunk header's event count (the next 4 bytes, little-endian).
    pub n_events: u32,
}

/// `[flags][n_events: u32le][payload]`.
pub fn payload_input(flags: PayloadFlags, payload: &[u8]) -> Vec<u8> {
    let byte = u8::from(flags.native)
        | u8::from(flags.trace_python_allocators) << 1
        | u8::from(flags.symbolize) << 2
        | ((flags.skipped_frames.min(15) as u8) << 4);
    let mut out = vec![byte];
    out.extend_from_slice(&flags.n_events.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The inverse of [`payload_input`]; None when the input is too short.
pub fn split_payload_input(data: &[u8]) -> Option<(PayloadFlags, &[u8])> {
    let (&byte, rest) = data.split_first()?;
    let (count, payload) = rest.split_first_chunk::<4>()?;
    let flags = PayloadFlags {
        native: byte & 1 != 0,
        trace_python_allocators: byte & 2 != 0,
        symbolize: byte & 4 != 0,
        skipped_frames: u32::from(byte >> 4),
        n_events: u32::from_le_bytes(*count),
    };
    Some((flags, payload))
}

/// Where a complete capture's footer starts, from its tail.
pub fn footer_offset(capture: &[u8]) -> Option<usize> {
    let tail = capture
        .len()
        .checked_sub(TAIL_LEN)
        .and_then(|at| capture.get(at..))?;
    if tail[8..] != TAIL_MAGIC {
        return None;
    }
    let at = u64::from_le_bytes(tail[..8].try_into().ok()?);
    usize::try_from(at).ok().filter(|&at| at < capture.len())
}

fn small_header() -> Header {
    Header {
        pid: 4242,
        main_thread_id: 1,
        start_time_ms: 1_700_000_000_000,
        command_line: "python small.py".into(),
        python_version: "3.11.7".into(),
        python_allocator: "pymalloc".into(),
        memory_interval_ms: 10,
        stdlib_dir: "/usr/lib/python3.11".into(),
        site_packages: vec!["/usr/lib/python3/site-packages".into()],
        sys_path: vec!["/tmp".into()],
        ..Header::default()
    }
}

/// A small complete capture in two uncompressed chunks: two functions, a few allocators, a
/// named thread, memory samples and frees.
pub fn small_capture() -> Vec<u8> {
    let opts = WriterOptions {
        compression: Compression::None,
        chunk_size: 1 << 20,
    };
    let build = || -> std::io::Result<Vec<u8>> {
        let mut w = CaptureWriter::new(Vec::new(), &small_header(), opts)?;
        let outer = w.define_code(&CodeDef {
            function: "main".into(),
            filename: "small.py".into(),
            first_line: 1,
        })?;
        let inner = w.define_code(&CodeDef {
            function: "make".into(),
            filename: "small.py".into(),
            first_line: 5,
        })?;
        let root = w.define_node(&StackNode {
            parent: 0,
            code: outer,
            line: 3,
            entry: true,
        })?;
        let leaf = w.define_node(&StackNode {
            parent: root,
            code: inner,
            line: 7,
            entry: true,
        })?;
        w.thread_name(&ThreadName {
            thread: 2,
            name: "worker".into(),
        })?;
        let event = |allocator, thread, address, size, stack| Event {
            allocator,
            thread,
            address,
            size,
            stack,
            native_stack: 0,
        };
        for (i, thread) in [1u32, 2].into_iter().enumerate() {
            let base = 0x1000 * (i as u64 + 1);
            w.event(&event(AllocatorType::Malloc, thread, base, 100, leaf))?;
            w.event(&event(
                AllocatorType::Calloc,
                thread,
                base + 0x100,
                64,
                root,
            ))?;
            w.event(&event(
                AllocatorType::PymallocMalloc,
                thread,
                base + 0x200,
                32,
                leaf,
            ))?;
            w.memory_sample(&MemorySample {
                time_ms: 1_700_000_000_010 + i as u64 * 10,
                rss: 1 << 20,
            })?;
            w.event(&event(AllocatorType::Free, thread, base, 0, 0))?;
            w.event(&event(AllocatorType::Mmap, thread, base << 8, 4096, leaf))?;
            w.event(&event(AllocatorType::Munmap, thread, base << 8, 4096, 0))?;
            w.flush_chunk()?;
        }
        w.finish(1_700_000_000_100)
    };
    build().expect("writing to memory does not fail")
}

/// A journal cut short: the header, then a ring of two slots holding a sealed chunk and the
/// open chunk after it (what a killed tracker leaves when nothing was appended yet).
pub fn cut_short_journal() -> Vec<u8> {
    let whole = small_capture();
    let Ok(f) = CaptureFile::from_vec(whole) else {
        return Vec::new();
    };
    let payloads: Vec<(ChunkHeader, Vec<u8>)> = (0..f.chunks.len())
        .filter_map(|i| Some((f.chunks[i].header, f.payload(i).ok()?)))
        .collect();
    let stride = payloads
        .iter()
        .map(|(_, p)| p.len() + CHUNK_HEADER_LEN + SLOT_PREFIX_LEN)
        .max()
        .unwrap_or(64)
        .next_multiple_of(64) as u32;
    let mut out = encode_file_header(&small_header());
    let ring = ring_header(payloads.len() as u32, stride);
    out.extend_from_slice(&ring.encode());
    for (seq, (h, p)) in payloads.iter().enumerate() {
        let slot_at = out.len();
        out.extend_from_slice(&(seq as u64 + 1).to_le_bytes());
        let open = seq + 1 == payloads.len();
        let header = ChunkHeader {
            flags: if open { FLAG_OPEN } else { 0 },
            stored_len: p.len() as u32,
            raw_len: p.len() as u32,
            n_events: if open { 0 } else { h.n_events },
            crc32: if open { 0 } else { crc32fast::hash(p) },
            ..*h
        };
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(p);
        out.resize(slot_at + stride as usize, 0);
    }
    out
}

/// The capture re-written with every chunk stored uncompressed; None if it cannot be read.
pub fn uncompressed(capture: &[u8]) -> Option<Vec<u8>> {
    let f = CaptureFile::from_vec(capture.to_vec()).ok()?;
    let mut w = ChunkFileWriter::new(Vec::new(), &f.header, Compression::None).ok()?;
    for (i, loc) in f.chunks.iter().enumerate() {
        let h = loc.header;
        w.write_chunk(RawChunk {
            payload: f.payload(i).ok()?,
            n_events: h.n_events,
            code_base: h.code_base,
            node_base: h.node_base,
            native_base: h.native_base,
        })
        .ok()?;
    }
    match f.trailer {
        Some(t) => w.finish(&t).ok(),
        None => Some(std::mem::take(w.get_mut())),
    }
}

/// Payloads larger than this are not taken as `records` seeds (they slow the fuzzer down).
const MAX_SEED_PAYLOAD: usize = 128 << 10;

/// The seeds a real capture gives each target, as (target, input).
pub fn from_capture(capture: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    // A journal cut short has its ring's slots reserved in full; what follows the last record
    // is zeros, which a reader takes as unused slots.
    let capture = match footer_offset(capture) {
        Some(_) => capture,
        None => {
            let end = capture.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            &capture[..end]
        }
    };
    let mut out = vec![
        ("file", capture.to_vec()),
        ("live", capture.to_vec()),
        ("report", capture.to_vec()),
    ];
    if let Some(plain) = uncompressed(capture) {
        out.push(("file", plain.clone()));
        out.push(("report", plain));
    }
    let Ok(f) = CaptureFile::from_vec(capture.to_vec()) else {
        return out;
    };
    let target = match f.header.file_format {
        FileFormat::AllAllocations => "records",
        FileFormat::AggregatedAllocations => "aggregate",
    };
    let flags = PayloadFlags {
        native: f.header.native_traces,
        trace_python_allocators: f.header.trace_python_allocators,
        skipped_frames: f.header.main_thread_skipped_frames,
        ..PayloadFlags::default()
    };
    // A chunk's definitions refer only to ids defined in it or before it: the first chunk
    // stands on its own.
    if let Some(p) = f.payload(0).ok().filter(|p| p.len() <= MAX_SEED_PAYLOAD) {
        let n_events = f.chunks[0].header.n_events;
        out.push((
            target,
            payload_input(PayloadFlags { n_events, ..flags }, &p),
        ));
    }
    out
}

/// The seeds built here, as (target, name, input).
pub fn synthetic() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let small = small_capture();
    let mut out = vec![
        ("file", "small", small.clone()),
        ("report", "small", small.clone()),
        ("live", "small", small.clone()),
        ("file", "journal", cut_short_journal()),
        ("report", "journal", cut_short_journal()),
    ];
    if let Some(at) = footer_offset(&small) {
        out.push(("tail", "small", small[at..].to_vec()));
    }
    out
}
