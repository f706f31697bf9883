//! The capture's output half on a thread of its own: finished chunks arrive over a bounded
//! channel and are compressed and written there, so an allocation never waits for zstd. The
//! channel's bound makes a tracked program that outruns the disk wait instead of growing.
//! With a journal, each chunk is also appended, compressed, to the journal (see `journal`).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};

use crate::journal::{Appended, GAVE_UP};

use memray_format::records::{Header, Trailer};
use memray_format::{ChunkFileWriter, Compression, RawChunk};

use crate::quiet_thread::QuietThread;

enum Msg {
    Chunk(RawChunk),
    Finish(Trailer),
}

pub struct WriterThread {
    tx: SyncSender<Msg>,
    spare: Receiver<Vec<u8>>,
    thread: QuietThread,
    /// The thread's outcome, sent when it ends.
    done: Receiver<io::Result<()>>,
}

/// Where the compressed chunks also go: the journal, from offset `at` on; `appended` counts
/// the chunks there.
pub struct JournalSide {
    pub file: File,
    pub at: u64,
    pub appended: Appended,
}

/// The capture's sink, and the journal beside it while chunks are written.
struct Tee<W> {
    out: W,
    journal: Option<JournalSide>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write_all(buf)?;
        if let Some(j) = &mut self.journal {
            match j.file.write_all_at(buf, j.at) {
                Ok(()) => j.at += buf.len() as u64,
                Err(e) => {
                    // The journal cannot grow (a full disk): the writer stops with the error,
                    // and so does recording; the journal keeps every record made so far.
                    j.appended.store(GAVE_UP, Ordering::Release);
                    self.journal = None;
                    return Err(e);
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl WriterThread {
    /// Writes the file header on the caller's thread (so errors show at once), then starts the
    /// thread that writes everything else.
    pub fn start<W: Write + Send + 'static>(
        out: W,
        header: &Header,
        compression: Compression,
        journal: Option<JournalSide>,
    ) -> io::Result<WriterThread> {
        let mut file = ChunkFileWriter::new(Tee { out, journal: None }, header, compression)?;
        // Whatever ends this thread, a tracker waiting for the journal must not wait forever.
        let appended = journal.as_ref().map(|j| j.appended.clone());
        file.get_mut().journal = journal;
        let (tx, rx) = sync_channel::<Msg>(8);
        let (spare_tx, spare) = sync_channel::<Vec<u8>>(8);
        let (done_tx, done) = channel();
        let thread = QuietThread::spawn(move || {
            let result = (|| -> io::Result<()> {
                for msg in rx {
                    match msg {
                        Msg::Chunk(c) => {
                            let buf = file.write_chunk(c)?;
                            if let Some(j) = &file.get_mut().journal {
                                j.appended.fetch_add(1, Ordering::Release);
                            }
                            let _ = spare_tx.try_send(buf);
                        }
                        Msg::Finish(trailer) => {
                            // The footer is the finished capture's alone (its offsets are not
                            // the journal's).
                            file.get_mut().journal = None;
                            file.finish(&trailer)?;
                            return Ok(());
                        }
                    }
                }
                // The tracker went away without finishing (it failed): leave the file as is.
                file.flush()
            })();
            if let Some(a) = appended {
                a.store(GAVE_UP, Ordering::Release);
            }
            let _ = done_tx.send(result);
        })?;
        Ok(WriterThread {
            tx,
            spare,
            thread,
            done,
        })
    }

    /// A buffer for the next chunk, recycled from one already written when possible.
    pub fn spare_buffer(&self) -> Vec<u8> {
        self.spare.try_recv().unwrap_or_default()
    }

    /// Hands a chunk over; fails when the writer thread has stopped (a write error).
    pub fn send(&self, chunk: RawChunk) -> io::Result<()> {
        self.tx
            .send(Msg::Chunk(chunk))
            .map_err(|_| self.stopped_error())
    }

    /// Why the thread stopped: its write error (it sends that as it ends).
    pub fn stopped_error(&self) -> io::Error {
        match self.done.recv_timeout(std::time::Duration::from_secs(5)) {
            Ok(Err(e)) => e,
            _ => io::Error::other("the capture writer stopped"),
        }
    }

    /// Writes the footer and waits for everything to reach the file.
    pub fn finish(self, trailer: Trailer) -> io::Result<()> {
        let sent = self.tx.send(Msg::Finish(trailer));
        drop(self.tx);
        self.thread.join();
        self.done
            .try_recv()
            .unwrap_or_else(|_| Err(io::Error::other("the capture writer stopped")))?;
        sent.map_err(|_| io::Error::other("the capture writer stopped"))
    }

    /// Stops without a footer (the capture reads as cut short).
    pub fn abandon(self) {
        drop(self.tx);
        self.thread.join();
    }
}
