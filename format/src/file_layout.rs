//! The file-level framing around the chunks: the file header at the start and the index footer
//! with its trailer and fixed-size tail at the end (see FORMAT.md).

#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::error::{FormatError, Result};
use crate::records::{FileFormat, Header, Trailer};
use crate::varint::{put_bytes, put_u64, Cursor};

pub const FILE_MAGIC: [u8; 8] = *b"MEMRAYRS";
/// The version written. Version 2 added open chunks (`FLAG_OPEN`), version 3 the journal's
/// ring (`FLAG_RING`); an older file is a valid newer one without them, so all are read.
pub const FORMAT_VERSION: u16 = 3;
pub const OLDEST_READABLE_VERSION: u16 = 1;
/// magic (8) + version (2) + reserved (2) + header body length (4).
pub const FILE_PREFIX_LEN: usize = 16;
pub const FOOTER_MAGIC: [u8; 4] = *b"MRIX";
pub const TAIL_MAGIC: [u8; 8] = *b"MRYEND01";
/// footer offset (8) + tail magic (8).
pub const TAIL_LEN: usize = 16;
const MAX_HEADER_BODY: u32 = 16 << 20;

const FLAG_NATIVE: u64 = 1;
const FLAG_TRACE_PYTHON_ALLOCATORS: u64 = 2;
const FLAG_FOLLOW_FORK: u64 = 4;

// Writer side: lengths of what this process made, not read from a file.
#[allow(clippy::arithmetic_side_effects)]
pub fn encode_file_header(h: &Header) -> Vec<u8> {
    let mut body = Vec::new();
    put_u64(&mut body, u64::from(h.pid));
    put_u64(&mut body, u64::from(h.main_thread_id));
    put_u64(&mut body, h.start_time_ms);
    put_bytes(&mut body, h.command_line.as_bytes());
    put_bytes(&mut body, h.python_version.as_bytes());
    put_bytes(&mut body, h.python_allocator.as_bytes());
    let flags = (if h.native_traces { FLAG_NATIVE } else { 0 })
        | (if h.trace_python_allocators {
            FLAG_TRACE_PYTHON_ALLOCATORS
        } else {
            0
        })
        | (if h.follow_fork { FLAG_FOLLOW_FORK } else { 0 });
    put_u64(&mut body, flags);
    put_u64(&mut body, h.file_format as u64);
    put_u64(&mut body, u64::from(h.memory_interval_ms));
    put_u64(&mut body, u64::from(h.main_thread_skipped_frames));
    put_bytes(&mut body, h.stdlib_dir.as_bytes());
    for list in [&h.site_packages, &h.sys_path] {
        put_u64(&mut body, list.len() as u64);
        for p in list {
            put_bytes(&mut body, p.as_bytes());
        }
    }
    put_u64(&mut body, u64::from(h.parent_pid));
    put_u64(&mut body, h.sample_every);
    let mut out = Vec::with_capacity(FILE_PREFIX_LEN + body.len());
    out.extend_from_slice(&FILE_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Checks the fixed prefix; returns the length of the header body that follows it.
pub fn decode_file_prefix(b: &[u8]) -> Result<u32> {
    if b.is_empty() {
        return Err(FormatError::Empty);
    }
    // As much of the magic as there is.
    if !FILE_MAGIC.starts_with(b.get(..FILE_MAGIC.len()).unwrap_or(b)) {
        return Err(FormatError::BadMagic);
    }
    // Magic (8), version (2), reserved (2), header body length (4).
    let Some(&[_, _, _, _, _, _, _, _, v0, v1, _, _, l0, l1, l2, l3]) =
        b.first_chunk::<FILE_PREFIX_LEN>()
    else {
        return Err(FormatError::Truncated {
            offset: b.len() as u64,
        });
    };
    let version = u16::from_le_bytes([v0, v1]);
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(FormatError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    if len > MAX_HEADER_BODY {
        return Err(FormatError::corrupt(12, "header length out of range"));
    }
    Ok(len)
}

pub fn decode_header_body(body: &[u8]) -> Result<Header> {
    let bad = || FormatError::corrupt(FILE_PREFIX_LEN as u64, "malformed file header");
    let mut c = Cursor::new(body);
    let pid = c.u32().ok_or_else(bad)?;
    let main_thread_id = c.u32().ok_or_else(bad)?;
    let start_time_ms = c.u64().ok_or_else(bad)?;
    let command_line = c.string().ok_or_else(bad)?;
    let python_version = c.string().ok_or_else(bad)?;
    let python_allocator = c.string().ok_or_else(bad)?;
    let flags = c.u64().ok_or_else(bad)?;
    let file_format = match c.u64().ok_or_else(bad)? {
        0 => FileFormat::AllAllocations,
        1 => FileFormat::AggregatedAllocations,
        _ => return Err(bad()),
    };
    let memory_interval_ms = c.u32().ok_or_else(bad)?;
    let main_thread_skipped_frames = c.u32().ok_or_else(bad)?;
    let stdlib_dir = c.string().ok_or_else(bad)?;
    let mut lists = [Vec::new(), Vec::new()];
    for list in lists.iter_mut() {
        let n = c.u64().ok_or_else(bad)?;
        if n > body.len() as u64 {
            return Err(bad());
        }
        for _ in 0..n {
            list.push(c.string().ok_or_else(bad)?);
        }
    }
    let [site_packages, sys_path] = lists;
    // Appended fields: absent in older captures.
    let parent_pid = if c.is_empty() {
        0
    } else {
        c.u32().ok_or_else(bad)?
    };
    let sample_every = if c.is_empty() {
        0
    } else {
        c.u64().ok_or_else(bad)?
    };
    // Fields added by later minor revisions would follow here; they are ignored.
    Ok(Header {
        pid,
        main_thread_id,
        start_time_ms,
        command_line,
        python_version,
        python_allocator,
        native_traces: flags & FLAG_NATIVE != 0,
        trace_python_allocators: flags & FLAG_TRACE_PYTHON_ALLOCATORS != 0,
        follow_fork: flags & FLAG_FOLLOW_FORK != 0,
        file_format,
        memory_interval_ms,
        main_thread_skipped_frames,
        stdlib_dir,
        site_packages,
        sys_path,
        parent_pid,
        sample_every,
    })
}

/// Where each chunk starts, as listed in the footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub offset: u64,
    pub n_events: u32,
}

/// The footer: `MRIX`, body length (u32), body, CRC-32 of the body (u32), then the tail.
// Writer side: the offsets of the chunks this process wrote (ascending), not read from a file.
#[allow(clippy::arithmetic_side_effects)]
pub fn encode_footer(index: &[IndexEntry], t: &Trailer, footer_offset: u64) -> Vec<u8> {
    let mut body = Vec::new();
    put_u64(&mut body, index.len() as u64);
    let mut prev = 0u64;
    for e in index {
        put_u64(&mut body, e.offset - prev);
        put_u64(&mut body, u64::from(e.n_events));
        prev = e.offset;
    }
    for v in [
        t.end_time_ms,
        t.n_allocations,
        t.n_deallocations,
        t.n_codes,
        t.n_nodes,
        t.n_native_nodes,
        t.n_memory_samples,
    ] {
        put_u64(&mut body, v);
    }
    let mut out = Vec::with_capacity(body.len() + 12 + TAIL_LEN);
    out.extend_from_slice(&FOOTER_MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&footer_offset.to_le_bytes());
    out.extend_from_slice(&TAIL_MAGIC);
    out
}

/// Decodes the footer body (after its magic and length, CRC already checked).
pub fn decode_footer_body(body: &[u8], offset: u64) -> Result<(Vec<IndexEntry>, Trailer)> {
    let bad = || FormatError::corrupt(offset, "malformed footer");
    let mut c = Cursor::new(body);
    let n = c.u64().ok_or_else(bad)?;
    if n > body.len() as u64 {
        return Err(bad());
    }
    let mut index = Vec::with_capacity(n as usize);
    let mut prev = 0u64;
    for _ in 0..n {
        let off = prev.checked_add(c.u64().ok_or_else(bad)?).ok_or_else(bad)?;
        index.push(IndexEntry {
            offset: off,
            n_events: c.u32().ok_or_else(bad)?,
        });
        prev = off;
    }
    let mut v = [0u64; 7];
    for x in v.iter_mut() {
        *x = c.u64().ok_or_else(bad)?;
    }
    let trailer = Trailer {
        end_time_ms: v[0],
        n_allocations: v[1],
        n_deallocations: v[2],
        n_codes: v[3],
        n_nodes: v[4],
        n_native_nodes: v[5],
        n_memory_samples: v[6],
    };
    Ok((index, trailer))
}
