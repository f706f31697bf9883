//! The memray capture format: bytes only. What a capture holds and how it is laid out, with no
//! analysis and no symbolization (those are the `memray-analysis` and `memray-symbolize` crates).
//!
//! - [`records`] the records and the header and trailer; [`varint`] their integer encoding;
//! - [`chunk`] a chunk's header and payload; [`file_layout`] the prefix, index footer and tail;
//!   [`journal_ring`] the ring of open chunks a capture has while it is written;
//! - [`writer`] turns records into a capture (chunks, zstd or lz4, index footer, trailer);
//! - [`reader`] reads one back, memory-mapped (chunks decoded in parallel) or streamed;
//! - [`sampling`] what the sizes of a sampled capture stand for.
//!
//! `FORMAT.md` beside this crate documents every byte.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod chunk;
pub mod error;
pub mod file_layout;
pub mod journal_ring;
pub mod reader;
pub mod records;
pub mod sampling;
pub mod varint;
pub mod writer;

pub use error::{FormatError, Result};
pub use reader::{Capture, CaptureFile, StreamReader};
pub use records::*;
pub use writer::{
    CaptureWriter, ChunkFileWriter, Compression, RawChunk, RecordEncoder, WriterOptions,
};
