//! The journal's ring (format version 3): how a capture being written keeps every record in the
//! file as it is made without the file growing by every raw byte.
//!
//! While a program is tracked, its capture file holds the header, then one `FLAG_RING` chunk
//! whose body is `n` fixed slots of `stride` bytes, then the compressed chunks the writer thread
//! appends. The tracker copies each record into the slot of the chunk it is filling; a slot is
//! used again once its chunk has been appended compressed. Each slot is
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | `u64le`: 1 + the chunk's sequence number (its place among all chunks); 0 = unused |
//! | 8..44 | a chunk header (open while filled, then sealed raw) |
//! | 44.. | its stored payload |
//!
//! A reader takes the chunks that follow the ring in the file (sequence numbers 0 to `c - 1`)
//! and then the ring's chunks numbered `c`, `c + 1`, … in order, up to the first missing one
//! and through at most one open chunk: exactly the records the tracker had made.

#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::chunk::{ChunkHeader, CHUNK_HEADER_LEN, FLAG_OPEN};
use crate::reader::{count_open_chunk, ChunkLoc};

/// Bytes of a slot before its chunk header: the sequence word.
pub const SLOT_PREFIX_LEN: usize = 8;
/// Bytes of a slot before its payload.
pub const SLOT_OVERHEAD: usize = SLOT_PREFIX_LEN + CHUNK_HEADER_LEN;

/// The ring chunk's header: `slots` slots of `stride` bytes.
// Writer side: the tracker's own ring size, not read from a file.
#[allow(clippy::arithmetic_side_effects)]
pub fn ring_header(slots: u32, stride: u32) -> ChunkHeader {
    ChunkHeader {
        flags: crate::chunk::FLAG_RING,
        stored_len: slots * stride,
        raw_len: stride,
        n_events: slots,
        ..ChunkHeader::default()
    }
}

/// The chunks the ring holds that follow the `first` chunks already read, in order. `ring` is
/// the ring's body as far as the file has it (slots past its end are unused); `ring_offset` is
/// the body's file offset, and each chunk's location is the file offset of its header in a slot.
pub fn ring_chunks(
    ring: &[u8],
    ring_offset: u64,
    header: &ChunkHeader,
    first: u64,
) -> Vec<ChunkLoc> {
    let stride = header.raw_len as usize;
    if stride == 0 {
        return Vec::new(); // zero-byte slots: never from `ChunkHeader::decode`
    }
    let mut found: Vec<(u64, ChunkLoc)> = Vec::new();
    let n_slots = header.n_events as usize;
    // Slots past the end of `ring` are unused; the last one there may be cut short.
    for (i, slot) in ring.chunks(stride).take(n_slots).enumerate() {
        let Some((word, rest)) = slot.split_first_chunk::<SLOT_PREFIX_LEN>() else {
            break;
        };
        // 1 + the chunk's sequence number; 0 = unused.
        let Some(seq) = u64::from_le_bytes(*word).checked_sub(1) else {
            continue;
        };
        if seq < first {
            continue;
        }
        let Some(offset) = slot_header_offset(ring_offset, i, stride) else {
            break;
        };
        let Ok(h) = ChunkHeader::decode(rest, offset) else {
            continue;
        };
        let Some(stored) = h.stored_in(rest) else {
            continue;
        };
        let h = match h.flags {
            FLAG_OPEN => match count_open_chunk(h, stored, offset) {
                Some(h) => h,
                None => continue,
            },
            0 if crc32fast::hash(stored) == h.crc32 => h,
            _ => continue,
        };
        found.push((seq, ChunkLoc { offset, header: h }));
    }
    found.sort_by_key(|(seq, _)| *seq);
    let mut out = Vec::new();
    for (k, (seq, loc)) in found.into_iter().enumerate() {
        if first.checked_add(k as u64) != Some(seq) {
            break;
        }
        let open = loc.header.flags == FLAG_OPEN;
        out.push(loc);
        if open {
            break;
        }
    }
    out
}

/// The file offset of the chunk header in slot `i`, for a ring body at `ring_offset`.
fn slot_header_offset(ring_offset: u64, i: usize, stride: usize) -> Option<u64> {
    let at = i.checked_mul(stride)?.checked_add(SLOT_PREFIX_LEN)?;
    ring_offset.checked_add(u64::try_from(at).ok()?)
}
