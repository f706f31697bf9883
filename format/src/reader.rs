//! Reading captures: a memory-mapped file (random access to chunks, decoded in parallel) or a
//! stream such as stdin (chunks decoded one after another as they arrive). Both hand decoded
//! chunks, in file order, to the same consumer, so every analysis has one implementation.
//!
//! Every length and offset read from a file is checked, never trusted to fit.

#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use memmap2::Mmap;
use rayon::prelude::*;

use crate::chunk::{
    decode_payload, Chunk, ChunkHeader, CHUNK_HEADER_LEN, CHUNK_MAGIC, FLAG_LZ4, FLAG_OPEN,
    FLAG_RING, FLAG_ZSTD,
};
use crate::error::{FormatError, Result};
use crate::file_layout::*;
use crate::journal_ring::ring_chunks;
use crate::records::{Header, Trailer};

enum Bytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// Where a chunk sits in the file, with its decoded header.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLoc {
    pub offset: u64,
    pub header: ChunkHeader,
}

/// A whole capture held in memory (mapped or owned), with its chunks located.
pub struct CaptureFile {
    bytes: Bytes,
    pub header: Header,
    pub chunks: Vec<ChunkLoc>,
    /// Present when the writer finished cleanly.
    pub trailer: Option<Trailer>,
}

/// Checks a chunk's stored bytes against its checksum and decompresses them.
pub fn decompress(h: &ChunkHeader, stored: &[u8], offset: u64) -> Result<Vec<u8>> {
    if h.flags != FLAG_OPEN && crc32fast::hash(stored) != h.crc32 {
        return Err(FormatError::corrupt(offset, "chunk checksum mismatch"));
    }
    let n = h.raw_len as usize;
    let out = match h.flags {
        FLAG_LZ4 => lz4_flex::block::decompress(stored, n).ok(),
        FLAG_ZSTD => zstd::bulk::decompress(stored, n).ok(),
        _ => return Ok(stored.to_vec()),
    };
    out.filter(|v| v.len() == n)
        .ok_or_else(|| FormatError::corrupt(offset, "chunk does not decompress"))
}

/// The bytes of `data` from file offset `offset` on; None past its end.
fn bytes_from(data: &[u8], offset: u64) -> Option<&[u8]> {
    data.get(usize::try_from(offset).ok()?..)
}

fn payload_at(data: &[u8], loc: &ChunkLoc) -> Result<Vec<u8>> {
    let stored = bytes_from(data, loc.offset)
        .and_then(|chunk| loc.header.stored_in(chunk))
        .ok_or(FormatError::Truncated {
            offset: data.len() as u64,
        })?;
    decompress(&loc.header, stored, loc.offset)
}

/// The file offset where the chunks start: past the prefix and a header body of `body_len`
/// bytes (as [`decode_file_prefix`] returns it).
fn chunks_start(body_len: u32) -> Result<usize> {
    FILE_PREFIX_LEN
        .checked_add(body_len as usize)
        .ok_or_else(|| FormatError::corrupt(12, "header length out of range"))
}

fn decode_chunk_at(data: &[u8], loc: &ChunkLoc) -> Result<Chunk> {
    let payload = payload_at(data, loc)?;
    decode_payload(&loc.header, &payload, loc.offset)
}

impl std::fmt::Debug for CaptureFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureFile")
            .field("header", &self.header)
            .field("chunks", &self.chunks.len())
            .field("complete", &self.is_complete())
            .finish()
    }
}

impl CaptureFile {
    /// Memory-maps `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |source| FormatError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        if meta.is_dir() {
            return Err(FormatError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        if !meta.is_file() {
            // Pipes and devices cannot be mapped: read them whole.
            let mut v = Vec::new();
            (&file).read_to_end(&mut v).map_err(open_err)?;
            return Self::from_vec(v);
        }
        if meta.len() == 0 {
            return Err(FormatError::Empty);
        }
        // SAFETY: the map is read-only; a capture being appended to while mapped only grows,
        // and every read is bounds-checked against the mapped length.
        let map = unsafe { Mmap::map(&file) }.map_err(open_err)?;
        Self::parse(Bytes::Mapped(map))
    }

    pub fn from_vec(v: Vec<u8>) -> Result<Self> {
        Self::parse(Bytes::Owned(v))
    }

    fn parse(bytes: Bytes) -> Result<Self> {
        let data = bytes.as_slice();
        let data_start = chunks_start(decode_file_prefix(data)?)?;
        let body = data
            .get(FILE_PREFIX_LEN..data_start)
            .ok_or(FormatError::Truncated {
                offset: data.len() as u64,
            })?;
        let header = decode_header_body(body)?;
        let data_start = data_start as u64;
        let (chunks, trailer) = match read_footer(data, data_start)? {
            Some((index, trailer)) => (locate_indexed(data, &index)?, Some(trailer)),
            None => (scan_chunks(data, data_start), None),
        };
        Ok(CaptureFile {
            bytes,
            header,
            chunks,
            trailer,
        })
    }

    /// False when the writer did not finish (the process died): only the complete chunks are read.
    pub fn is_complete(&self) -> bool {
        self.trailer.is_some()
    }

    /// Chunk `i`'s payload, checked and decompressed (see [`crate::chunk::decode_records`]).
    /// Panics unless `i < self.chunks.len()` (the caller's chunk number, not the file's).
    pub fn payload(&self, i: usize) -> Result<Vec<u8>> {
        payload_at(self.bytes.as_slice(), self.chunk(i))
    }

    /// Chunk `i`, decoded. Panics unless `i < self.chunks.len()`, as [`Self::payload`] does.
    pub fn decode_chunk(&self, i: usize) -> Result<Chunk> {
        decode_chunk_at(self.bytes.as_slice(), self.chunk(i))
    }

    fn chunk(&self, i: usize) -> &ChunkLoc {
        self.chunks.get(i).expect("chunk number out of range")
    }

    /// Decodes every chunk, `batch` at a time in parallel, and hands them to `f` in file order.
    pub fn for_each_chunk(&self, mut f: impl FnMut(Chunk) -> Result<()>) -> Result<()> {
        // One chunk per worker in flight: decoded chunks are ~30x their encoded size.
        let batch = rayon::current_num_threads().max(1);
        for group in self.chunks.chunks(batch) {
            let decoded: Vec<Result<Chunk>> = group
                .par_iter()
                .map(|loc| decode_chunk_at(self.bytes.as_slice(), loc))
                .collect();
            for c in decoded {
                f(c?)?;
            }
        }
        Ok(())
    }

    pub fn len_bytes(&self) -> u64 {
        self.bytes.as_slice().len() as u64
    }
}

/// Reads and checks the footer through the fixed tail; `None` when there is no valid footer.
fn read_footer(data: &[u8], data_start: u64) -> Result<Option<(Vec<IndexEntry>, Trailer)>> {
    let Some((before_tail, tail)) = data.split_last_chunk::<TAIL_LEN>() else {
        return Ok(None);
    };
    let [o0, o1, o2, o3, o4, o5, o6, o7, magic @ ..] = *tail;
    if (before_tail.len() as u64) < data_start || magic != TAIL_MAGIC {
        // No tail: the writer did not finish (the capture was cut short).
        return Ok(None);
    }
    // A tail is there, so the writer finished: a footer that does not fit it is damage, not a
    // capture cut short.
    let tail_at = before_tail.len() as u64;
    let footer_offset = u64::from_le_bytes([o0, o1, o2, o3, o4, o5, o6, o7]);
    let bad_offset = || FormatError::corrupt(tail_at, "footer offset out of range");
    let footer = Some(footer_offset)
        .filter(|&fo| fo >= data_start)
        .and_then(|fo| bytes_from(before_tail, fo))
        .ok_or_else(bad_offset)?;
    let not_a_footer = || FormatError::corrupt(footer_offset, "no footer where the tail points");
    let (&FOOTER_MAGIC, rest) = footer.split_first_chunk::<4>().ok_or_else(not_a_footer)? else {
        return Err(not_a_footer());
    };
    let (body_len, rest) = rest.split_first_chunk::<4>().ok_or_else(not_a_footer)?;
    let (body, crc) = rest.split_last_chunk::<4>().ok_or_else(not_a_footer)?;
    if u32::try_from(body.len()) != Ok(u32::from_le_bytes(*body_len)) {
        return Err(FormatError::corrupt(
            footer_offset,
            "footer length disagrees with the tail",
        ));
    }
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err(FormatError::corrupt(
            footer_offset,
            "footer checksum mismatch",
        ));
    }
    decode_footer_body(body, footer_offset).map(Some)
}

fn locate_indexed(data: &[u8], index: &[IndexEntry]) -> Result<Vec<ChunkLoc>> {
    index
        .iter()
        .map(|e| {
            let at = bytes_from(data, e.offset)
                .ok_or_else(|| FormatError::corrupt(e.offset, "index points past the end"))?;
            let header = ChunkHeader::decode(at, e.offset)?;
            if header.n_events != e.n_events || header.stored_in(at).is_none() {
                return Err(FormatError::corrupt(e.offset, "index disagrees with chunk"));
            }
            Ok(ChunkLoc {
                offset: e.offset,
                header,
            })
        })
        .collect()
}

/// Walks chunk headers from the start when there is no footer, keeping every chunk that is
/// complete and whose checksum holds; stops at the first one that is not. A journal's ring
/// (first after the header) is stepped over, and the chunks it holds beyond those read follow.
fn scan_chunks(data: &[u8], data_start: u64) -> Vec<ChunkLoc> {
    let mut out = Vec::new();
    let mut off = data_start;
    let mut ring = None;
    while let Some(at) = bytes_from(data, off) {
        let Ok(header) = ChunkHeader::decode(at, off) else {
            break;
        };
        let Some(end) = header.end(off) else {
            break;
        };
        if header.flags == FLAG_RING {
            let Some(body_at) = off.checked_add(CHUNK_HEADER_LEN as u64) else {
                break;
            };
            if off != data_start {
                break;
            }
            ring = Some((at, body_at, header));
            off = end;
            continue;
        }
        let Some(stored) = header.stored_in(at) else {
            break;
        };
        if header.flags == FLAG_OPEN {
            // The journal's last chunk, left open by a killed process: its records as far as
            // they were committed, counted here (its header does not count them).
            if let Some(header) = count_open_chunk(header, stored, off) {
                out.push(ChunkLoc {
                    offset: off,
                    header,
                });
            }
            return out;
        }
        if crc32fast::hash(stored) != header.crc32 {
            break;
        }
        out.push(ChunkLoc {
            offset: off,
            header,
        });
        off = end;
    }
    if let Some((chunk, body_at, header)) = ring {
        // The ring's body as far as the file has it.
        let body = chunk.get(CHUNK_HEADER_LEN..).unwrap_or_default();
        let body = header.stored_in(chunk).unwrap_or(body);
        let first = out.len() as u64;
        out.extend(ring_chunks(body, body_at, &header, first));
    }
    out
}

/// An open chunk's header with its event count filled in; None when its records do not decode
/// (it is then left out, like any damaged last chunk).
pub(crate) fn count_open_chunk(
    mut header: ChunkHeader,
    stored: &[u8],
    offset: u64,
) -> Option<ChunkHeader> {
    if header.stored_len == 0 {
        return None;
    }
    // None once the count passes `u32::MAX`.
    let mut n = Some(0u32);
    crate::chunk::decode_records(&header, stored, offset, |r| {
        if matches!(r, crate::chunk::Record::Event(_)) {
            n = n.and_then(|n| n.checked_add(1));
        }
    })
    .ok()?;
    header.n_events = n?;
    Some(header)
}

/// Reads a capture from a stream (stdin, a socket), one chunk at a time.
pub struct StreamReader<R: Read> {
    input: R,
    pub header: Header,
    offset: u64,
    pub trailer: Option<Trailer>,
    done: bool,
    /// Chunks read in sequence so far (what a journal's ring continues from).
    taken: u64,
    /// A journal's ring, held until the stream ends: (body offset, ring header, body as read).
    ring: Option<(u64, ChunkHeader, Vec<u8>)>,
    /// The ring's chunks still to hand out, once the stream has ended.
    from_ring: std::collections::VecDeque<ChunkLoc>,
}

/// Reads as much as possible into `buf`; returns how many bytes were read before EOF.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..).filter(|rest| !rest.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            // A reader fills at most `rest`: `n` stays within `buf`.
            Ok(k) => n = n.saturating_add(k).min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> StreamReader<R> {
    pub fn new(mut input: R) -> Result<Self> {
        let mut prefix = [0u8; FILE_PREFIX_LEN];
        let n = read_full(&mut input, &mut prefix)?;
        let body_len = decode_file_prefix(prefix.get(..n).unwrap_or_default())?;
        let data_start = chunks_start(body_len)? as u64;
        let mut body = vec![0u8; body_len as usize];
        if read_full(&mut input, &mut body)? != body.len() {
            return Err(FormatError::Truncated { offset: data_start });
        }
        let header = decode_header_body(&body)?;
        Ok(StreamReader {
            input,
            header,
            offset: data_start,
            trailer: None,
            done: false,
            taken: 0,
            ring: None,
            from_ring: Default::default(),
        })
    }

    pub fn is_complete(&self) -> bool {
        self.trailer.is_some()
    }

    /// The next chunk; `Ok(None)` at the footer or where the stream ends (cut short or not).
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        match self.next_payload()? {
            Some((loc, payload)) => Ok(Some(decode_payload(&loc.header, &payload, loc.offset)?)),
            None => Ok(None),
        }
    }

    /// The next chunk's location and payload, checked and decompressed; `Ok(None)` as for
    /// [`Self::next_chunk`].
    pub fn next_payload(&mut self) -> Result<Option<(ChunkLoc, Vec<u8>)>> {
        match self.next_stored()? {
            Some((loc, stored)) => {
                let payload = decompress(&loc.header, &stored, loc.offset)?;
                Ok(Some((loc, payload)))
            }
            None => Ok(None),
        }
    }

    /// The next chunk's location and stored bytes, as read (not yet checked against the
    /// checksum, nor decompressed); `Ok(None)` as for [`Self::next_chunk`].
    pub fn next_stored(&mut self) -> Result<Option<(ChunkLoc, Vec<u8>)>> {
        if let Some(loc) = self.from_ring.pop_front() {
            let (body_at, _, body) = self.ring.as_ref().expect("ring chunks come from a ring");
            let stored = loc
                .offset
                .checked_sub(*body_at)
                .and_then(|at| bytes_from(body, at))
                .and_then(|chunk| loc.header.stored_in(chunk))
                .ok_or_else(|| {
                    FormatError::corrupt(loc.offset, "chunk runs past the journal ring")
                })?
                .to_vec();
            return Ok(Some((loc, stored)));
        }
        if self.done {
            return Ok(None);
        }
        let mut hb = [0u8; CHUNK_HEADER_LEN];
        let n = read_full(&mut self.input, &mut hb[..4])?;
        if n < 4 {
            return self.ended();
        }
        if hb[..4] == FOOTER_MAGIC {
            self.done = true;
            let mut len = [0u8; 4];
            if read_full(&mut self.input, &mut len)? < 4 {
                return Ok(None);
            }
            let body_len = u32::from_le_bytes(len) as usize;
            if body_len > (64 << 20) {
                return Err(FormatError::corrupt(
                    self.offset,
                    "footer length out of range",
                ));
            }
            let mut body = vec![0u8; body_len];
            let mut crc = [0u8; 4];
            if read_full(&mut self.input, &mut body)? < body.len()
                || read_full(&mut self.input, &mut crc)? < crc.len()
            {
                return Ok(None);
            }
            if crc32fast::hash(&body) != u32::from_le_bytes(crc) {
                return Err(FormatError::corrupt(
                    self.offset,
                    "footer checksum mismatch",
                ));
            }
            let (_, trailer) = decode_footer_body(&body, self.offset)?;
            let mut tail = [0u8; TAIL_LEN];
            if read_full(&mut self.input, &mut tail)? == TAIL_LEN && tail[8..] == TAIL_MAGIC {
                self.trailer = Some(trailer);
            }
            return Ok(None);
        }
        if hb[..4] != CHUNK_MAGIC {
            return Err(FormatError::corrupt(self.offset, "bad chunk magic"));
        }
        if read_full(&mut self.input, &mut hb[4..])? < CHUNK_HEADER_LEN - 4 {
            return self.ended();
        }
        let header = ChunkHeader::decode(&hb, self.offset)?;
        if header.flags == FLAG_RING {
            if self.taken > 0 || self.ring.is_some() {
                return Err(FormatError::corrupt(
                    self.offset,
                    "journal ring after chunks",
                ));
            }
            let (body_at, end) = self
                .offset
                .checked_add(CHUNK_HEADER_LEN as u64)
                .zip(header.end(self.offset))
                .ok_or_else(|| FormatError::corrupt(self.offset, "chunk offset out of range"))?;
            // Read as it arrives (never reserved whole from a header's word).
            let mut body = Vec::new();
            (&mut self.input)
                .take(u64::from(header.stored_len))
                .read_to_end(&mut body)?;
            self.offset = end;
            let cut = body.len() < header.stored_len as usize;
            self.ring = Some((body_at, header, body));
            if cut {
                return self.ended();
            }
            return self.next_stored();
        }
        let mut stored = vec![0u8; header.stored_len as usize];
        if read_full(&mut self.input, &mut stored)? < stored.len() {
            return self.ended();
        }
        let mut loc = ChunkLoc {
            offset: self.offset,
            header,
        };
        self.offset = header
            .end(self.offset)
            .ok_or_else(|| FormatError::corrupt(self.offset, "chunk offset out of range"))?;
        if header.flags == FLAG_OPEN {
            // A killed process's last chunk: nothing follows it.
            self.done = true;
            match count_open_chunk(header, &stored, loc.offset) {
                Some(h) => loc.header = h,
                None => return Ok(None),
            }
        }
        self.taken = self
            .taken
            .checked_add(1)
            .ok_or_else(|| FormatError::corrupt(loc.offset, "too many chunks"))?;
        Ok(Some((loc, stored)))
    }

    /// The stream ended without a footer: what a journal's ring holds past the chunks read
    /// follows, and then nothing.
    fn ended(&mut self) -> Result<Option<(ChunkLoc, Vec<u8>)>> {
        self.done = true;
        if let Some((body_at, header, body)) = &self.ring {
            self.from_ring = ring_chunks(body, *body_at, header, self.taken).into();
            if !self.from_ring.is_empty() {
                return self.next_stored();
            }
        }
        Ok(None)
    }
}

/// A capture opened from a path, or streamed from stdin when the path is `-`.
// A program holds one `Capture`, so the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Capture {
    File(CaptureFile),
    Stream(Box<StreamReader<Box<dyn Read + Send>>>),
}

impl Capture {
    pub fn open(path: &str) -> Result<Self> {
        if path == "-" {
            let stdin: Box<dyn Read + Send> = Box::new(io::stdin());
            Ok(Capture::Stream(Box::new(StreamReader::new(stdin)?)))
        } else {
            Ok(Capture::File(CaptureFile::open(Path::new(path))?))
        }
    }

    pub fn header(&self) -> &Header {
        match self {
            Capture::File(f) => &f.header,
            Capture::Stream(s) => &s.header,
        }
    }

    /// Feeds every chunk in order to `f`. Returns the trailer (None: the capture was cut short;
    /// for a stream this is known only once it has been read to the end).
    pub fn for_each_chunk(
        &mut self,
        mut f: impl FnMut(Chunk) -> Result<()>,
    ) -> Result<Option<Trailer>> {
        match self {
            Capture::File(file) => {
                file.for_each_chunk(f)?;
                Ok(file.trailer)
            }
            Capture::Stream(s) => {
                while let Some(c) = s.next_chunk()? {
                    f(c)?;
                }
                Ok(s.trailer)
            }
        }
    }

    /// Feeds every chunk's location and decompressed payload, in file order and one at a
    /// time, to `f` (for record-by-record dumps). Returns the trailer as
    /// [`Self::for_each_chunk`] does.
    pub fn for_each_payload(
        &mut self,
        mut f: impl FnMut(&ChunkLoc, &[u8]) -> Result<()>,
    ) -> Result<Option<Trailer>> {
        match self {
            Capture::File(file) => {
                for loc in &file.chunks {
                    let payload = payload_at(file.bytes.as_slice(), loc)?;
                    f(loc, &payload)?;
                }
                Ok(file.trailer)
            }
            Capture::Stream(s) => {
                while let Some((loc, payload)) = s.next_payload()? {
                    f(&loc, &payload)?;
                }
                Ok(s.trailer)
            }
        }
    }
}
