//! The record writers: how a capture's records are made. [`RecordWriter`] is either
//! [`StreamingWriter`] (every event encoded into chunks, which the writer thread compresses
//! into the sink, and copied into the journal as it is made) or [`AggregatingWriter`]
//! (`--aggregate`: events summed in the process, only the sums written at the end). Both write
//! the same definitions (code objects, stack nodes, images), thread names and memory samples.

use std::io;
use std::sync::atomic::Ordering::Relaxed;

use memray_format::records::*;
use memray_format::{Compression, RecordEncoder};

pub use super::aggregating::AggregatingWriter;
use super::sink::{Replacement, Sink};
use super::{now_ms, ACTIVE};
use crate::journal::{Appended, Journal};
use crate::writer_thread::{JournalSide, WriterThread};

/// Uncompressed size at which a chunk is sealed.
const CHUNK_SIZE: usize = 1 << 20;

/// The writer of a capture's records, streaming or aggregating. There is one, in the state,
/// so its size does not matter; neither variant is boxed (no indirection on the hot path).
#[allow(clippy::large_enum_variant)]
pub enum RecordWriter {
    Streaming(StreamingWriter),
    Aggregating(AggregatingWriter),
}

impl RecordWriter {
    /// The writer for a capture with `header` into `sink`: aggregating if `aggregate`.
    pub fn create(
        sink: Sink,
        header: &Header,
        compress: bool,
        aggregate: bool,
        path: &str,
    ) -> io::Result<RecordWriter> {
        let out = StreamingWriter::create(sink, header, compress, path)?;
        Ok(if aggregate {
            RecordWriter::Aggregating(AggregatingWriter::new(out, header.sample_every))
        } else {
            RecordWriter::Streaming(out)
        })
    }

    /// The streaming writer underneath, which every definition and every record but the
    /// events goes through.
    #[inline]
    pub fn output(&mut self) -> &mut StreamingWriter {
        match self {
            RecordWriter::Streaming(w) => w,
            RecordWriter::Aggregating(a) => a.output(),
        }
    }

    /// Records an allocation or deallocation.
    #[inline]
    pub fn event(&mut self, e: &Event) {
        match self {
            RecordWriter::Streaming(w) => w.event(e),
            RecordWriter::Aggregating(a) => a.event(e),
        }
    }

    /// Records the process's resident size now (with the heap's size when aggregating).
    pub fn memory_sample(&mut self, rss: u64) {
        match self {
            RecordWriter::Streaming(w) => w.memory_sample(rss),
            RecordWriter::Aggregating(a) => a.memory_sample(rss),
        }
    }

    /// Writes what is still to be written, then the footer, and waits for the file to be
    /// complete.
    pub fn finish(self, header: &Header) -> io::Result<()> {
        match self {
            RecordWriter::Streaming(w) => w.finish(),
            RecordWriter::Aggregating(a) => a.finish(header),
        }
    }
}

/// Encodes records into chunks, copies them into the journal as they are made, and hands the
/// chunks to the writer thread.
pub struct StreamingWriter {
    encoder: RecordEncoder,
    writer: Option<WriterThread>,
    /// Every record, in the kernel's hands as soon as it is made (regular files only).
    journal: Option<Journal>,
    replacement: Option<Replacement>,
    failed: bool,
    /// Streaming to a live client (whose going away never fails the program).
    live: bool,
    /// The capture's path, for messages.
    path: String,
}

impl StreamingWriter {
    /// Writes the header to `sink` and starts the writer thread.
    fn create(sink: Sink, header: &Header, compress: bool, path: &str) -> io::Result<Self> {
        let live = sink.is_socket();
        let (mut sink, journal_files) = sink.split_journal()?;
        let (journal, replacement, journal_side) = match journal_files {
            Some(files) => {
                let encoded = memray_format::file_layout::encode_file_header(header);
                let appended = Appended::default();
                let writer_journal = files.journal.try_clone()?;
                match Journal::create(files.journal, &encoded, CHUNK_SIZE, appended.clone()) {
                    Ok(journal) => {
                        let side = JournalSide {
                            file: writer_journal,
                            at: journal.appends_at(),
                            appended,
                        };
                        (Some(journal), Some(files.replacement), Some(side))
                    }
                    Err(e) => {
                        // No room for the journal's ring (a nearly full disk): the capture is
                        // written at its path as plain chunks instead, as to a pipe.
                        files.replacement.discard();
                        writer_journal.set_len(0)?;
                        sink = Sink::File(writer_journal);
                        eprintln!(
                            "memray: no room for the journal of {path} ({e}); writing it \
                             without one (a kill loses up to half a second of records)"
                        );
                        (None, None, None)
                    }
                }
            }
            None => (None, None, None),
        };
        let compression = if compress {
            Compression::Zstd(1)
        } else {
            Compression::None
        };
        let writer = WriterThread::start(sink, header, compression, journal_side)?;
        Ok(StreamingWriter {
            encoder: RecordEncoder::new(CHUNK_SIZE),
            writer: Some(writer),
            journal,
            replacement,
            failed: false,
            live,
            path: path.to_string(),
        })
    }

    /// The encoder, for the definitions the stack interner makes.
    #[inline]
    pub fn encoder(&mut self) -> &mut RecordEncoder {
        &mut self.encoder
    }

    /// False once a write error has stopped recording.
    #[inline]
    pub fn ok(&self) -> bool {
        !self.failed
    }

    /// Stops recording for good after a write error (a full disk, a live client gone), keeping
    /// the program running; says so in one line. What was recorded before stays readable.
    fn fail(&mut self, e: io::Error) {
        if !self.failed {
            self.failed = true;
            ACTIVE.store(false, Relaxed);
            if self.live {
                eprintln!("memray: the live client stopped reading ({e}); tracking stopped");
            } else {
                eprintln!(
                    "memray: could not write to {} ({e}); tracking stopped, the capture keeps \
                     what was recorded before",
                    self.path
                );
            }
        }
    }

    /// Copies the records made since the last commit into the journal.
    #[inline]
    fn commit(&mut self) {
        if let Some(j) = &mut self.journal {
            j.commit(self.encoder.pending());
            if j.overflowed() {
                self.seal();
            }
        }
    }

    /// The journal could not grow (a full disk, or the writer thread failed): the compressed
    /// capture beside it is on the same file system and fares no better, so recording stops
    /// here and the journal, which holds every record made so far, stays as the capture.
    fn journal_failed(&mut self, e: io::Error) {
        self.journal = None;
        let e = match &self.writer {
            Some(w) if crate::journal::is_writer_gave_up(&e) => w.stopped_error(),
            _ => e,
        };
        self.fail(e);
    }

    /// Hands the buffered records to the writer thread as a chunk. A chunk that outgrew its
    /// journal slot is waited for, so that it is in the file before anything more is recorded.
    fn seal(&mut self) {
        let Some(w) = &self.writer else { return };
        let spare = w.spare_buffer();
        if let Some(j) = &mut self.journal {
            j.commit(self.encoder.pending());
        }
        let Some(chunk) = self.encoder.take_chunk(spare) else {
            return;
        };
        let mut wait_for = None;
        if let Some(j) = &mut self.journal {
            if j.overflowed() {
                wait_for = Some(j.seq() + 1);
            }
            let next = self.encoder.bases();
            if let Err(e) = j.seal(&chunk.payload, chunk.n_events, next) {
                self.journal_failed(e);
            }
        }
        let Some(w) = &self.writer else { return };
        if let Err(e) = w.send(chunk) {
            self.fail(e);
            return;
        }
        if let (Some(n), Some(j)) = (wait_for, &self.journal) {
            if let Err(e) = j.wait_appended(n) {
                self.journal_failed(e);
            }
        }
    }

    #[inline]
    pub(super) fn seal_if_full(&mut self) {
        if self.encoder.is_full() {
            self.seal();
        }
    }

    #[inline]
    pub fn event(&mut self, e: &Event) {
        if !self.failed {
            self.encoder.event(e);
            self.commit();
            self.seal_if_full();
        }
    }

    pub fn thread_name(&mut self, thread: u32, name: &str) {
        if !self.failed {
            self.encoder.thread_name(&ThreadName {
                thread,
                name: name.to_string(),
            });
            self.commit();
            self.seal_if_full();
        }
    }

    fn memory_sample(&mut self, rss: u64) {
        if !self.failed {
            self.encoder.memory_sample(&MemorySample {
                time_ms: now_ms(),
                rss,
            });
            self.commit();
            self.seal_if_full();
        }
    }

    /// Records `images` as a new image generation at the start of a chunk.
    pub fn images(&mut self, images: impl IntoIterator<Item = ImageMap>) {
        if self.failed {
            return;
        }
        self.seal();
        self.encoder.images_reset();
        for img in images {
            self.encoder.image(&img);
        }
        self.commit();
    }

    /// Hands everything buffered to the writer, so a kill loses as little as possible (with a
    /// journal, nothing is at risk: records are in the file as they are made).
    pub fn sync(&mut self) {
        if !self.failed && self.journal.is_none() {
            self.seal();
        }
    }

    /// Seals the last chunk, writes the footer and waits for the file to be complete.
    pub(super) fn finish(mut self) -> io::Result<()> {
        if !self.failed {
            self.seal();
        }
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        if self.failed {
            writer.abandon();
            if let Some(r) = self.replacement.take() {
                r.discard();
            }
            return Ok(());
        }
        let mut trailer = *self.encoder.totals();
        trailer.end_time_ms = now_ms();
        let result = writer.finish(trailer);
        if self.live {
            // A live client that has gone away ends tracking, never the program.
            return Ok(());
        }
        result?;
        self.journal = None;
        if let Some(r) = self.replacement.take() {
            // The finished capture takes the journal's place; should that fail, the journal
            // stays, a capture with every record (read as cut short).
            r.put_in_place()?;
        }
        Ok(())
    }
}
