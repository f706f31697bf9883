//! Writing captures, in two halves that can run on different threads:
//! - [`RecordEncoder`] turns records into chunk payloads (cheap, called for every record);
//! - [`ChunkFileWriter`] compresses finished chunks (zstd, or lz4), writes them to any `Write`
//!   sink, and on `finish` appends the index footer and the trailer.
//!
//! [`CaptureWriter`] joins the two on one thread; the tracker runs the second half on a thread
//! of its own so no allocation ever waits for compression.

use std::io::{self, Write};

use crate::chunk::{ChunkEncoder, ChunkHeader, FLAG_LZ4, FLAG_ZSTD};
use crate::file_layout::{encode_file_header, encode_footer, IndexEntry};
use crate::records::*;

/// How chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
    /// zstd at the given level (1 is fast and already much smaller than lz4).
    Zstd(i32),
}

#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    pub compression: Compression,
    /// Seal a chunk once its payload reaches this many bytes.
    pub chunk_size: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compression: Compression::Zstd(1),
            chunk_size: 1 << 20,
        }
    }
}

/// A chunk's records, encoded and not yet compressed, with the ids it starts from.
#[derive(Debug, Default)]
pub struct RawChunk {
    pub payload: Vec<u8>,
    pub n_events: u32,
    pub code_base: u32,
    pub node_base: u32,
    pub native_base: u32,
}

/// Encodes records into chunks and keeps the running totals and id counters.
pub struct RecordEncoder {
    enc: ChunkEncoder,
    chunk_size: usize,
    code_base: u32,
    node_base: u32,
    native_base: u32,
    totals: Trailer,
}

impl RecordEncoder {
    pub fn new(chunk_size: usize) -> Self {
        RecordEncoder {
            enc: ChunkEncoder::with_capacity(chunk_size + 256),
            chunk_size,
            code_base: 0,
            node_base: 0,
            native_base: 0,
            totals: Trailer::default(),
        }
    }

    /// True once the current chunk is full and should be taken with [`Self::take_chunk`].
    #[inline]
    pub fn is_full(&self) -> bool {
        self.enc.buf.len() >= self.chunk_size
    }

    /// True when records are buffered that no chunk holds yet.
    pub fn has_pending(&self) -> bool {
        !self.enc.buf.is_empty()
    }

    /// The records buffered for the current chunk (what [`Self::take_chunk`] would take).
    #[inline]
    pub fn pending(&self) -> &[u8] {
        &self.enc.buf
    }

    /// The definition counts the current chunk starts from: (codes, nodes, native nodes).
    pub fn bases(&self) -> (u32, u32, u32) {
        (self.code_base, self.node_base, self.native_base)
    }

    #[inline]
    pub fn event(&mut self, e: &Event) {
        if e.allocator.is_deallocator() {
            self.totals.n_deallocations += 1;
        } else {
            self.totals.n_allocations += 1;
        }
        self.enc.event(e);
    }

    /// Defines the next code location and returns its id (ids count from 0).
    pub fn define_code(&mut self, c: &CodeDef) -> u32 {
        let id = self.totals.n_codes as u32;
        self.enc.code(c);
        self.totals.n_codes += 1;
        id
    }

    /// Defines the next stack node and returns its id (ids count from 1; 0 is the empty stack).
    /// The parent must already be defined.
    pub fn define_node(&mut self, n: &StackNode) -> u32 {
        let id = self.totals.n_nodes as u32 + 1;
        debug_assert!(n.parent < id, "a stack node's parent must be defined first");
        self.enc.node(id, n);
        self.totals.n_nodes += 1;
        id
    }

    /// Defines the next native stack node and returns its id (from 1; 0 is no native stack).
    pub fn define_native_node(&mut self, n: &NativeNode) -> u32 {
        let id = self.totals.n_native_nodes as u32 + 1;
        debug_assert!(
            n.parent < id,
            "a native node's parent must be defined first"
        );
        self.enc.native_node(id, n);
        self.totals.n_native_nodes += 1;
        id
    }

    pub fn thread_name(&mut self, t: &ThreadName) {
        self.enc.thread_name(t);
    }

    pub fn memory_sample(&mut self, m: &MemorySample) {
        self.enc.memory(m);
        self.totals.n_memory_samples += 1;
    }

    pub fn image(&mut self, img: &ImageMap) {
        self.enc.image(img);
    }

    pub fn images_reset(&mut self) {
        self.enc.images_reset();
    }

    /// Aggregated captures: a memory sample with the tracker's heap size.
    pub fn heap_sample(&mut self, m: &HeapSample) {
        self.enc.heap_sample(m);
        self.totals.n_memory_samples += 1;
    }

    /// Aggregated captures: one location's figures.
    pub fn aggregate(&mut self, a: &AggregateRecord) {
        self.enc.aggregate(a);
    }

    /// Aggregated captures: the totals (written once, at the end).
    pub fn aggregate_totals(&mut self, t: &AggregateTotals) {
        self.enc.aggregate_totals(t);
        self.totals.n_allocations = t.n_allocations;
        self.totals.n_deallocations = t.n_deallocations;
    }

    /// Takes the buffered records as a chunk (None when nothing is buffered). `reuse` becomes
    /// the buffer for the next chunk.
    pub fn take_chunk(&mut self, reuse: Vec<u8>) -> Option<RawChunk> {
        if self.enc.buf.is_empty() {
            return None;
        }
        let mut next = reuse;
        next.clear();
        next.reserve(self.chunk_size + 256);
        let payload = std::mem::replace(&mut self.enc.buf, next);
        let chunk = RawChunk {
            payload,
            n_events: self.enc.n_events,
            code_base: self.code_base,
            node_base: self.node_base,
            native_base: self.native_base,
        };
        self.code_base = self.totals.n_codes as u32;
        self.node_base = self.totals.n_nodes as u32;
        self.native_base = self.totals.n_native_nodes as u32;
        self.enc.reset();
        Some(chunk)
    }

    pub fn totals(&self) -> &Trailer {
        &self.totals
    }
}

/// Compresses and writes chunks, then the footer.
pub struct ChunkFileWriter<W: Write> {
    out: W,
    compression: Compression,
    scratch: Vec<u8>,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    offset: u64,
    index: Vec<IndexEntry>,
}

impl<W: Write> ChunkFileWriter<W> {
    /// Writes the file header and returns a writer ready for chunks.
    pub fn new(mut out: W, header: &Header, compression: Compression) -> io::Result<Self> {
        let prefix = encode_file_header(header);
        out.write_all(&prefix)?;
        let zstd = match compression {
            Compression::Zstd(level) => Some(zstd::bulk::Compressor::new(level)?),
            _ => None,
        };
        Ok(ChunkFileWriter {
            out,
            compression,
            scratch: Vec::new(),
            zstd,
            offset: prefix.len() as u64,
            index: Vec::new(),
        })
    }

    /// Compresses (when that saves space) and writes one chunk; returns its payload buffer.
    pub fn write_chunk(&mut self, chunk: RawChunk) -> io::Result<Vec<u8>> {
        let raw = &chunk.payload;
        let mut flags = 0u8;
        let compressed_len = match (self.compression, self.zstd.as_mut()) {
            (Compression::Zstd(_), Some(z)) => {
                self.scratch
                    .resize(zstd::zstd_safe::compress_bound(raw.len()), 0);
                z.compress_to_buffer(raw, &mut self.scratch[..])
                    .ok()
                    .map(|n| (n, FLAG_ZSTD))
            }
            (Compression::Lz4, _) => {
                self.scratch
                    .resize(lz4_flex::block::get_maximum_output_size(raw.len()), 0);
                lz4_flex::block::compress_into(raw, &mut self.scratch)
                    .ok()
                    .map(|n| (n, FLAG_LZ4))
            }
            _ => None,
        };
        let stored: &[u8] = match compressed_len {
            Some((n, flag)) if n < raw.len() => {
                flags = flag;
                &self.scratch[..n]
            }
            _ => raw,
        };
        let header = ChunkHeader {
            flags,
            stored_len: stored.len() as u32,
            raw_len: raw.len() as u32,
            n_events: chunk.n_events,
            code_base: chunk.code_base,
            node_base: chunk.node_base,
            native_base: chunk.native_base,
            crc32: crc32fast::hash(stored),
        };
        let hb = header.encode();
        self.out.write_all(&hb)?;
        self.out.write_all(stored)?;
        self.index.push(IndexEntry {
            offset: self.offset,
            n_events: chunk.n_events,
        });
        self.offset += (hb.len() + stored.len()) as u64;
        Ok(chunk.payload)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The sink.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Writes the footer with `trailer` and returns the sink.
    pub fn finish(mut self, trailer: &Trailer) -> io::Result<W> {
        let footer = encode_footer(&self.index, trailer, self.offset);
        self.out.write_all(&footer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Encoder and file writer on one thread: the simple way to write a capture.
pub struct CaptureWriter<W: Write> {
    encoder: RecordEncoder,
    file: ChunkFileWriter<W>,
    spare: Vec<u8>,
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header and returns a writer ready for records.
    pub fn new(out: W, header: &Header, opts: WriterOptions) -> io::Result<Self> {
        Ok(CaptureWriter {
            encoder: RecordEncoder::new(opts.chunk_size),
            file: ChunkFileWriter::new(out, header, opts.compression)?,
            spare: Vec::new(),
        })
    }

    #[inline]
    fn maybe_seal(&mut self) -> io::Result<()> {
        if self.encoder.is_full() {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Records an allocation or deallocation.
    #[inline]
    pub fn event(&mut self, e: &Event) -> io::Result<()> {
        self.encoder.event(e);
        self.maybe_seal()
    }

    pub fn define_code(&mut self, c: &CodeDef) -> io::Result<u32> {
        let id = self.encoder.define_code(c);
        self.maybe_seal()?;
        Ok(id)
    }

    pub fn define_node(&mut self, n: &StackNode) -> io::Result<u32> {
        let id = self.encoder.define_node(n);
        self.maybe_seal()?;
        Ok(id)
    }

    pub fn define_native_node(&mut self, n: &NativeNode) -> io::Result<u32> {
        let id = self.encoder.define_native_node(n);
        self.maybe_seal()?;
        Ok(id)
    }

    pub fn thread_name(&mut self, t: &ThreadName) -> io::Result<()> {
        self.encoder.thread_name(t);
        self.maybe_seal()
    }

    pub fn memory_sample(&mut self, m: &MemorySample) -> io::Result<()> {
        self.encoder.memory_sample(m);
        self.maybe_seal()
    }

    pub fn image(&mut self, img: &ImageMap) -> io::Result<()> {
        self.encoder.image(img);
        self.maybe_seal()
    }

    pub fn images_reset(&mut self) -> io::Result<()> {
        self.encoder.images_reset();
        self.maybe_seal()
    }

    /// Seals the buffered records into a chunk and writes it (no-op when nothing is buffered).
    pub fn flush_chunk(&mut self) -> io::Result<()> {
        let spare = std::mem::take(&mut self.spare);
        if let Some(chunk) = self.encoder.take_chunk(spare) {
            self.spare = self.file.write_chunk(chunk)?;
        }
        Ok(())
    }

    /// Seals the current chunk and flushes the sink, so a crash loses nothing written so far.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush_chunk()?;
        self.file.flush()
    }

    pub fn totals(&self) -> &Trailer {
        self.encoder.totals()
    }

    /// Seals the last chunk, writes the footer with its trailer, and returns the sink.
    pub fn finish(mut self, end_time_ms: u64) -> io::Result<W> {
        self.flush_chunk()?;
        let mut trailer = *self.encoder.totals();
        trailer.end_time_ms = end_time_ms;
        self.file.finish(&trailer)
    }
}
