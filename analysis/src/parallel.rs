//! The replay of a whole capture on every core: worker threads replay chunks on their own
//! ([`super::chunk_pass`]) while the calling thread applies their summaries to one [`Replay`]
//! in file order. The summaries are small (a chunk's locations, the frees and `mmap`s it could
//! not settle, its blocks still live at the end), so the ordered part is a small fraction of
//! the work. The result is the sequential replay's, exactly; a chunk whose summary cannot give
//! it (an allocation over a block live from an earlier chunk, or sizes adding up past 2^64) is
//! replayed event by event instead.
//!
//! `RAYON_NUM_THREADS` (else the number of cores) sets the number of workers; with one, the
//! chunks are replayed on the calling thread.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Mutex;

use super::chunk_pass::{self, PassSetup, Summary};
use super::definitions::Definitions;
use super::replay::{Replay, ReplayOptions};
use memray_format::chunk::CHUNK_HEADER_LEN;
use memray_format::chunk::{decode_payload, ChunkHeader};
use memray_format::error::Result;
use memray_format::reader::{Capture, CaptureFile, ChunkLoc};
use memray_format::records::Trailer;

/// Called now and then with the bytes of the capture read so far and its size when known.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>);

/// Chunks in flight per worker: enough to keep every worker busy while the merge catches up.
const IN_FLIGHT_PER_WORKER: usize = 4;

/// One chunk to replay: a mapped file's chunk by index, or a stream's chunk as read.
enum Job {
    Mapped(usize),
    Read(ChunkLoc, Vec<u8>),
}

struct Merger {
    replay: Replay,
    defs: Definitions,
}

/// Replays every chunk of `capture`; returns the dictionaries, the replay (ready for
/// [`Replay::finish`]) and the trailer.
pub fn replay_capture(
    capture: &mut Capture,
    opts: ReplayOptions,
    progress: Progress<'_>,
) -> Result<(Definitions, Replay, Option<Trailer>)> {
    let mut m = Merger {
        replay: Replay::new(opts),
        defs: Definitions::default(),
    };
    let observers = m.replay.chunk_observers();
    let sample_every = capture.header().sample_every;
    m.replay.set_sample_every(sample_every);
    let pass = PassSetup {
        observers: &observers,
        sample_every,
    };
    let workers = rayon::current_num_threads().max(1);
    let trailer = match capture {
        Capture::File(file) => {
            let file: &CaptureFile = file;
            let total = file.len_bytes();
            let payload = |i: usize| file.payload(i);
            let mut jobs = (0..file.chunks.len()).map(|i| Ok(Job::Mapped(i)));
            let mut done = 0u64;
            run(
                workers,
                &mut jobs,
                pass,
                &payload,
                &file.chunks,
                |s, job| {
                    let Job::Mapped(i) = job else { unreachable!() };
                    let loc = &file.chunks[i];
                    m.merge(s, &loc.header, loc.offset, &|| file.payload(i))?;
                    done = done
                        .saturating_add(CHUNK_HEADER_LEN as u64)
                        .saturating_add(u64::from(loc.header.stored_len));
                    progress(done, Some(total));
                    Ok(())
                },
            )?;
            file.trailer
        }
        Capture::Stream(s) => {
            let mut jobs = std::iter::from_fn(|| match s.next_stored() {
                Ok(Some((loc, stored))) => Some(Ok(Job::Read(loc, stored))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            });
            let mut done = 0u64;
            let no_payload = |_: usize| unreachable!();
            run(
                workers,
                &mut jobs,
                pass,
                &no_payload,
                &[],
                |mut sum, job| {
                    let Job::Read(loc, _) = job else {
                        unreachable!()
                    };
                    let payload = sum.payload.take().unwrap_or_default();
                    m.merge(sum, &loc.header, loc.offset, &|| Ok(payload.clone()))?;
                    done = done
                        .saturating_add(CHUNK_HEADER_LEN as u64)
                        .saturating_add(u64::from(loc.header.stored_len));
                    progress(done, None);
                    Ok(())
                },
            )?;
            s.trailer
        }
    };
    Ok((m.defs, m.replay, trailer))
}

/// Replays one job's chunk on its own.
fn replay_job(
    job: &Job,
    pass: PassSetup<'_>,
    payload: &(dyn Fn(usize) -> Result<Vec<u8>> + Sync),
    chunks: &[ChunkLoc],
) -> Result<Summary> {
    match job {
        Job::Mapped(i) => {
            let loc = &chunks[*i];
            let bytes = payload(*i)?;
            chunk_pass::run(&loc.header, &bytes, loc.offset, pass)
        }
        Job::Read(loc, stored) => {
            let bytes = memray_format::reader::decompress(&loc.header, stored, loc.offset)?;
            let mut s = chunk_pass::run(&loc.header, &bytes, loc.offset, pass)?;
            s.payload = Some(bytes);
            Ok(s)
        }
    }
}

/// Replays the jobs on `workers` threads (or this one) and hands the summaries to `merge` in
/// job order, with at most a few jobs per worker in flight.
fn run(
    workers: usize,
    jobs: &mut dyn Iterator<Item = Result<Job>>,
    pass: PassSetup<'_>,
    payload: &(dyn Fn(usize) -> Result<Vec<u8>> + Sync),
    chunks: &[ChunkLoc],
    mut merge: impl FnMut(Summary, Job) -> Result<()>,
) -> Result<()> {
    if workers <= 1 {
        for job in jobs {
            let job = job?;
            let s = replay_job(&job, pass, payload, chunks)?;
            merge(s, job)?;
        }
        return Ok(());
    }
    let (job_tx, job_rx) = mpsc::channel::<(usize, Job)>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Job, std::thread::Result<Result<Summary>>)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || loop {
                let next = job_rx.lock().map(|rx| rx.recv());
                let Ok(Ok((i, job))) = next else { return };
                // A panic goes to the calling thread, which raises it again: a worker that
                // died with its chunk would leave the merge waiting for that chunk forever.
                let s = panic::catch_unwind(AssertUnwindSafe(|| {
                    replay_job(&job, pass, payload, chunks)
                }));
                if done_tx.send((i, job, s)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let limit = workers * IN_FLIGHT_PER_WORKER;
        let mut sent = 0usize;
        let mut merged = 0usize;
        let mut exhausted = false;
        let mut ready: BTreeMap<usize, (Job, std::thread::Result<Result<Summary>>)> =
            BTreeMap::new();
        let mut panicked = None;
        let result = (|| {
            loop {
                while !exhausted && sent - merged < limit {
                    match jobs.next() {
                        Some(job) => {
                            // The workers outlive this loop, so the send cannot fail.
                            let _ = job_tx.send((sent, job?));
                            sent += 1;
                        }
                        None => exhausted = true,
                    }
                }
                if merged == sent {
                    return Ok(());
                }
                let Ok((i, job, s)) = done_rx.recv() else {
                    return Ok(());
                };
                ready.insert(i, (job, s));
                while let Some((job, s)) = ready.remove(&merged) {
                    match s {
                        Ok(s) => merge(s?, job)?,
                        Err(p) => {
                            panicked = Some(p);
                            return Ok(());
                        }
                    }
                    merged += 1;
                }
            }
        })();
        drop(job_tx);
        if let Some(p) = panicked {
            panic::resume_unwind(p);
        }
        result
    })
}

impl Merger {
    /// Applies one chunk's summary; `payload` gives the chunk's bytes again when it must be
    /// replayed event by event.
    fn merge(
        &mut self,
        mut s: Summary,
        header: &ChunkHeader,
        offset: u64,
        payload: &dyn Fn() -> Result<Vec<u8>>,
    ) -> Result<()> {
        self.defs.absorb(&mut s.chunk)?;
        self.replay
            .apply(s, &mut || decode_payload(header, &payload()?, offset))
    }
}
