//! Live mode: a capture read from a socket while the tracked program runs. A background thread
//! reads the stream chunk by chunk and feeds the same [`Replay`] and [`Definitions`] a file
//! capture goes through; readers (the `memray-live` terminal UI, Python's `SocketReader`) take
//! the lock now and then and look at what is live at that moment.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use super::definitions::Definitions;
use super::functions::{by_function_in, FunctionRow};
use super::replay::{Replay, ReplayOptions};
use super::snapshot::{live_now, Aggregate};
use memray_format::error::Result;
use memray_format::reader::StreamReader;
use memray_format::records::Header;

/// Seconds of heap history kept for the sparkline.
const HISTORY_SECONDS: usize = 3600;

/// Connects once to a tracker serving on the loopback interface (IPv4, then IPv6).
pub fn connect_loopback(port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for ip in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ] {
        match TcpStream::connect(ip) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no loopback address")))
}

/// Everything known about the capture so far. Read it through [`Live::lock`].
pub struct LiveData {
    pub header: Header,
    pub defs: Definitions,
    replay: Replay,
    /// (second since the epoch, highest heap sampled in it), oldest first.
    history: VecDeque<(u64, u64)>,
    /// Time of the newest memory sample (ms since the epoch).
    pub last_sample_ms: Option<u64>,
    /// The stream has ended: the program finished tracking, exited, or the connection broke.
    pub ended: bool,
    /// The stream ended with the capture's footer (tracking finished cleanly).
    pub complete: bool,
    /// When the stream ended: the time the tracker wrote in its footer (ms since the epoch).
    pub end_time_ms: Option<u64>,
    /// Why reading stopped, when it was an error (a corrupt stream, a reset connection).
    pub error: Option<String>,
    /// Chunks read so far.
    pub chunks: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl LiveData {
    fn new(header: Header) -> Self {
        let mut replay = Replay::new(ReplayOptions::default());
        replay.set_sample_every(header.sample_every);
        LiveData {
            header,
            defs: Definitions::default(),
            replay,
            history: VecDeque::new(),
            last_sample_ms: None,
            ended: false,
            complete: false,
            end_time_ms: None,
            error: None,
            chunks: 0,
        }
    }

    /// Reads a whole stream to its end as the live reader's thread does (a recorded session,
    /// or a fuzzer's input): an error only when even the header cannot be read; what goes wrong
    /// later ends the stream with [`Self::error`] set, as it does live.
    pub fn from_stream<R: Read>(input: R) -> Result<LiveData> {
        let reader = StreamReader::new(input)?;
        let data = Mutex::new(LiveData::new(reader.header.clone()));
        read_all(reader, &data, &AtomicBool::new(false));
        Ok(data.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    fn feed(&mut self, mut chunk: memray_format::chunk::Chunk) -> Result<()> {
        self.defs.absorb(&mut chunk)?;
        self.replay.feed(&chunk);
        self.chunks = self.chunks.saturating_add(1);
        let samples: Vec<_> = self.replay.drain_snapshots().collect();
        for s in samples {
            let sec = s.time_ms / 1000;
            match self.history.back_mut() {
                Some((last, heap)) if *last == sec => *heap = (*heap).max(s.heap),
                _ => {
                    self.history.push_back((sec, s.heap));
                    if self.history.len() > HISTORY_SECONDS {
                        self.history.pop_front();
                    }
                }
            }
            self.last_sample_ms = Some(s.time_ms);
        }
        Ok(())
    }

    /// Bytes live now.
    pub fn heap(&self) -> u64 {
        self.replay.heap()
    }

    /// The highest heap seen so far.
    pub fn peak(&self) -> u64 {
        self.replay.peak()
    }

    /// Allocations seen so far.
    pub fn n_allocations(&self) -> u64 {
        self.replay.n_allocations()
    }

    /// Thread ids that allocated, in order of first appearance.
    pub fn threads(&self) -> &[u32] {
        self.replay.threads()
    }

    pub fn thread_name(&self, tid: u32) -> Option<&str> {
        self.defs.thread_name(tid)
    }

    /// The highest heap of each of the last `n` seconds with samples, oldest first.
    pub fn heap_history(&self, n: usize) -> Vec<u64> {
        let skip = self.history.len().saturating_sub(n);
        self.history.iter().skip(skip).map(|&(_, h)| h).collect()
    }

    /// How long the program has been tracked: until now while it runs, until its last word
    /// once the stream has ended.
    pub fn elapsed_ms(&self) -> u64 {
        let until = if self.ended {
            self.end_time_ms.or(self.last_sample_ms).unwrap_or(now_ms())
        } else {
            now_ms()
        };
        until.saturating_sub(self.header.start_time_ms)
    }

    /// What is live now, grouped by stack (and thread unless merged), in order of first
    /// allocation (Memray's snapshot records).
    pub fn snapshot(&self, merge_threads: bool) -> Vec<Aggregate> {
        live_now(self.replay.locations(), merge_threads)
    }

    /// Memory by function (own, total, count) over `groups` (from [`Self::snapshot`], now or
    /// earlier: the dictionaries only grow), with each function's hottest line, covering
    /// `coverage` of their bytes (Memray's live view uses 0.95). The rows of `runpy`'s and the
    /// profiler's own frames are left out.
    pub fn rows(&self, groups: &[Aggregate], coverage: f64) -> Vec<(FunctionRow, u32)> {
        by_function_in(
            &self.defs,
            self.header.main_thread_id,
            self.header.main_thread_skipped_frames,
            groups,
            coverage,
            true,
        )
    }
}

/// A live capture being read on a background thread.
pub struct Live {
    data: Arc<Mutex<LiveData>>,
    stream: TcpStream,
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub header: Header,
}

impl Live {
    /// Reads the capture header from `stream` (waiting for it), then starts the thread that
    /// reads the rest.
    pub fn start(stream: TcpStream) -> Result<Live> {
        let reader = StreamReader::new(stream.try_clone()?)?;
        let header = reader.header.clone();
        let data = Arc::new(Mutex::new(LiveData::new(header.clone())));
        let closing = Arc::new(AtomicBool::new(false));
        let thread = {
            let data = Arc::clone(&data);
            let closing = Arc::clone(&closing);
            std::thread::Builder::new()
                .name("memray-live-reader".into())
                .spawn(move || read_all(reader, &data, &closing))?
        };
        Ok(Live {
            data,
            stream,
            closing,
            thread: Some(thread),
            header,
        })
    }

    /// The state so far; hold the guard briefly, the reader thread waits for it.
    pub fn lock(&self) -> MutexGuard<'_, LiveData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the stream is still being read.
    pub fn is_active(&self) -> bool {
        !self.lock().ended
    }

    /// Disconnects and waits for the reader thread (the tracked program stops tracking and
    /// goes on).
    pub fn close(&mut self) {
        self.closing.store(true, Ordering::Relaxed);
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.close();
    }
}

fn read_all<R: Read>(mut reader: StreamReader<R>, data: &Mutex<LiveData>, closing: &AtomicBool) {
    let lock = || data.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        match reader.next_chunk() {
            Ok(Some(chunk)) => {
                // The guard must be gone before the error is recorded: in `if let`, a
                // temporary of the condition lives to the end of the block (a deadlock the
                // fuzzer found).
                let fed = lock().feed(chunk);
                if let Err(e) = fed {
                    let mut d = lock();
                    d.ended = true;
                    d.error = Some(e.to_string());
                    return;
                }
            }
            Ok(None) => {
                let mut d = lock();
                d.ended = true;
                d.complete = reader.trailer.is_some();
                d.end_time_ms = reader.trailer.map(|t| t.end_time_ms);
                return;
            }
            Err(e) => {
                let mut d = lock();
                d.ended = true;
                if !closing.load(Ordering::Relaxed) {
                    d.error = Some(e.to_string());
                }
                return;
            }
        }
    }
}
