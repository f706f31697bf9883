//! Rewrites the checksums of a capture's bytes the way the writer computes them: every chunk's
//! CRC-32 (including the sealed chunks in a journal's ring) and the footer's. A fuzzer that
//! mutates a payload would otherwise only ever meet "checksum mismatch"; with the checksums
//! rewritten, the mutation reaches the decoder behind them, as a capture written that way by a
//! faulty or hostile writer would. The walk stops at the first thing it does not recognise,
//! leaving the rest as it is for the reader to reject.

use memray_format::chunk::{ChunkHeader, CHUNK_HEADER_LEN, CHUNK_MAGIC, FLAG_OPEN, FLAG_RING};
use memray_format::file_layout::{decode_file_prefix, FILE_PREFIX_LEN, FOOTER_MAGIC};
use memray_format::journal_ring::{SLOT_OVERHEAD, SLOT_PREFIX_LEN};

/// Offset of the CRC-32 in a chunk header (the last of its seven words).
const CRC_AT: usize = CHUNK_HEADER_LEN - 4;

/// Rewrites the checksums of the capture in `data`, in place.
pub fn fix(data: &mut [u8]) {
    let Ok(header_len) = decode_file_prefix(data) else {
        return;
    };
    let mut at = FILE_PREFIX_LEN.saturating_add(header_len as usize);
    loop {
        let Some(rest) = data.get(at..) else { return };
        if rest.starts_with(&CHUNK_MAGIC) {
            let Some(end) = fix_chunk(data, at) else {
                return;
            };
            at = end;
        } else if rest.starts_with(&FOOTER_MAGIC) {
            fix_footer(data, at);
            return;
        } else {
            return;
        }
    }
}

/// Fixes the chunk whose header is at `at`; returns where the next one starts.
fn fix_chunk(data: &mut [u8], at: usize) -> Option<usize> {
    let h = ChunkHeader::decode(data.get(at..)?, 0).ok()?;
    let body = at.checked_add(CHUNK_HEADER_LEN)?;
    let end = body.checked_add(h.stored_len as usize)?;
    match h.flags {
        FLAG_RING => {
            let stride = h.raw_len as usize;
            for i in 0..h.n_events as usize {
                let slot = body.checked_add(i.checked_mul(stride)?)?;
                let inner = slot.checked_add(SLOT_PREFIX_LEN)?;
                let Ok(sh) = ChunkHeader::decode(data.get(inner..)?, 0) else {
                    continue;
                };
                let stored = slot.checked_add(SLOT_OVERHEAD)?;
                let stored_end = stored.checked_add(sh.stored_len as usize)?;
                if sh.flags == 0 && stored_end <= data.len() {
                    set_crc(data, inner, stored..stored_end);
                }
            }
        }
        FLAG_OPEN => {}
        _ => {
            if end > data.len() {
                return None;
            }
            set_crc(data, at, body..end);
        }
    }
    Some(end)
}

fn set_crc(data: &mut [u8], header_at: usize, stored: std::ops::Range<usize>) {
    let crc = crc32fast::hash(&data[stored]);
    data[header_at + CRC_AT..header_at + CHUNK_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// The footer: magic, body length (u32), body, CRC-32 of the body.
fn fix_footer(data: &mut [u8], at: usize) {
    let Some(len) = data.get(at + 4..at + 8) else {
        return;
    };
    let len = u32::from_le_bytes(len.try_into().unwrap()) as usize;
    let body = at + 8;
    let Some(end) = body.checked_add(len) else {
        return;
    };
    if end.saturating_add(4) > data.len() {
        return;
    }
    let crc = crc32fast::hash(&data[body..end]);
    data[end..end + 4].copy_from_slice(&crc.to_le_bytes());
}
