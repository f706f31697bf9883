//! The capture writer: buffers records into a chunk, seals full chunks (optionally lz4-compressed)
//! to any `Write` sink, and on `finish` appends the index footer and trailer.

use std::io::{self, Write};

use crate::chunk::{ChunkEncoder, ChunkHeader, FLAG_LZ4};
use crate::file_layout::{encode_file_header, encode_footer, IndexEntry};
use crate::records::*;

#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Compress each chunk with lz4 (kept uncompressed when that would not save space).
    pub compress: bool,
    /// Seal a chunk once its payload reaches this many bytes.
    pub chunk_size: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compress: true,
            chunk_size: 1 << 20,
        }
    }
}

pub struct CaptureWriter<W: Write> {
    out: W,
    opts: WriterOptions,
    enc: ChunkEncoder,
    scratch: Vec<u8>,
    offset: u64,
    index: Vec<IndexEntry>,
    chunk_code_base: u32,
    chunk_node_base: u32,
    chunk_native_base: u32,
    totals: Trailer,
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header and returns a writer ready for records.
    pub fn new(mut out: W, header: &Header, opts: WriterOptions) -> io::Result<Self> {
        let prefix = encode_file_header(header);
        out.write_all(&prefix)?;
        Ok(CaptureWriter {
            out,
            opts,
            enc: ChunkEncoder::with_capacity(opts.chunk_size + 256),
            scratch: Vec::new(),
            offset: prefix.len() as u64,
            index: Vec::new(),
            chunk_code_base: 0,
            chunk_node_base: 0,
            chunk_native_base: 0,
            totals: Trailer::default(),
        })
    }

    #[inline]
    fn maybe_seal(&mut self) -> io::Result<()> {
        if self.enc.buf.len() >= self.opts.chunk_size {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Records an allocation or deallocation.
    #[inline]
    pub fn event(&mut self, e: &Event) -> io::Result<()> {
        if e.allocator.is_deallocator() {
            self.totals.n_deallocations += 1;
        } else {
            self.totals.n_allocations += 1;
        }
        self.enc.event(e);
        self.maybe_seal()
    }

    /// Defines the next code location and returns its id (ids count from 0).
    pub fn define_code(&mut self, c: &CodeDef) -> io::Result<u32> {
        let id = self.totals.n_codes as u32;
        self.enc.code(c);
        self.totals.n_codes += 1;
        self.maybe_seal()?;
        Ok(id)
    }

    /// Defines the next stack node and returns its id (ids count from 1; 0 is the empty stack).
    pub fn define_node(&mut self, n: &StackNode) -> io::Result<u32> {
        let id = self.totals.n_nodes as u32 + 1;
        assert!(n.parent < id, "a stack node's parent must be defined first");
        self.enc.node(id, n);
        self.totals.n_nodes += 1;
        self.maybe_seal()?;
        Ok(id)
    }

    /// Defines the next native stack node and returns its id (from 1; 0 is no native stack).
    pub fn define_native_node(&mut self, n: &NativeNode) -> io::Result<u32> {
        let id = self.totals.n_native_nodes as u32 + 1;
        assert!(
            n.parent < id,
            "a native node's parent must be defined first"
        );
        self.enc.native_node(id, n);
        self.totals.n_native_nodes += 1;
        self.maybe_seal()?;
        Ok(id)
    }

    pub fn thread_name(&mut self, t: &ThreadName) -> io::Result<()> {
        self.enc.thread_name(t);
        self.maybe_seal()
    }

    pub fn memory_sample(&mut self, m: &MemorySample) -> io::Result<()> {
        self.enc.memory(m);
        self.totals.n_memory_samples += 1;
        self.maybe_seal()
    }

    pub fn image(&mut self, img: &ImageMap) -> io::Result<()> {
        self.enc.image(img);
        self.maybe_seal()
    }

    pub fn images_reset(&mut self) -> io::Result<()> {
        self.enc.images_reset();
        self.maybe_seal()
    }

    /// True when records are buffered that no sealed chunk holds yet.
    pub fn has_pending(&self) -> bool {
        !self.enc.buf.is_empty()
    }

    /// Seals the buffered records into a chunk and writes it (no-op when nothing is buffered).
    pub fn flush_chunk(&mut self) -> io::Result<()> {
        if self.enc.buf.is_empty() {
            return Ok(());
        }
        let raw = &self.enc.buf;
        let mut flags = 0u8;
        let stored: &[u8] = if self.opts.compress {
            self.scratch
                .resize(lz4_flex::block::get_maximum_output_size(raw.len()), 0);
            match lz4_flex::block::compress_into(raw, &mut self.scratch) {
                Ok(n) if n < raw.len() => {
                    flags |= FLAG_LZ4;
                    &self.scratch[..n]
                }
                _ => raw,
            }
        } else {
            raw
        };
        let header = ChunkHeader {
            flags,
            stored_len: stored.len() as u32,
            raw_len: raw.len() as u32,
            n_events: self.enc.n_events,
            code_base: self.chunk_code_base,
            node_base: self.chunk_node_base,
            native_base: self.chunk_native_base,
            crc32: crc32fast::hash(stored),
        };
        let hb = header.encode();
        self.out.write_all(&hb)?;
        self.out.write_all(stored)?;
        self.index.push(IndexEntry {
            offset: self.offset,
            n_events: self.enc.n_events,
        });
        self.offset += (hb.len() + stored.len()) as u64;
        self.chunk_code_base = self.totals.n_codes as u32;
        self.chunk_node_base = self.totals.n_nodes as u32;
        self.chunk_native_base = self.totals.n_native_nodes as u32;
        self.enc.reset();
        Ok(())
    }

    /// Flushes the sink (after sealing the current chunk), so a crash loses nothing written so far.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush_chunk()?;
        self.out.flush()
    }

    pub fn totals(&self) -> &Trailer {
        &self.totals
    }

    /// Seals the last chunk, writes the footer with its trailer, and returns the sink.
    pub fn finish(mut self, end_time_ms: u64) -> io::Result<W> {
        self.flush_chunk()?;
        self.totals.end_time_ms = end_time_ms;
        let footer = encode_footer(&self.index, &self.totals, self.offset);
        self.out.write_all(&footer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}
