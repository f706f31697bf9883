//! The memray capture format and the analyses every report shares.
//!
//! - [`writer`] turns records into a capture (chunks, optional lz4, index footer, trailer);
//! - [`reader`] reads one back, memory-mapped (chunks decoded in parallel) or streamed;
//! - [`analysis`] replays it once for the live set, high-water mark, leaks and totals;
//! - [`native`] symbolises native stacks and merges them with Python stacks.
//!
//! `FORMAT.md` beside this crate documents every byte.

pub mod analysis;
pub mod chunk;
pub mod error;
pub mod file_layout;
pub mod journal_ring;
pub mod native;
pub mod reader;
pub mod records;
pub mod varint;
pub mod writer;

pub use error::{FormatError, Result};
pub use reader::{Capture, CaptureFile, StreamReader};
pub use records::*;
pub use writer::{
    CaptureWriter, ChunkFileWriter, Compression, RawChunk, RecordEncoder, WriterOptions,
};
