//! The tracker's global state: the capture writer behind one lock (so records from every thread
//! land in one global order), the interning of code objects, Python stacks and native stacks,
//! thread ids and names, and what the hooks call to record an event.

use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::*};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use memray_analysis::replay::Replay;
use memray_format::records::*;
use memray_format::{Compression, RecordEncoder};
use rustc_hash::FxHashMap;

use crate::journal::Journal;
use crate::lock::ForkSafeMutex;
use crate::native::{self, NATIVE};
use crate::seam::{self, Guard};
use crate::writer_thread::{JournalSide, WriterThread};

/// True while events are being recorded. Checked first by every hook.
pub static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The state; `None` when not tracking.
pub static STATE: ForkSafeMutex<Option<State>> = ForkSafeMutex::new(None);
/// Bumped whenever thread stack caches may hold stale node ids (a new capture, a code object
/// freed: its address may come back as another function).
static EPOCH: AtomicU32 = AtomicU32::new(1);
/// Bumped whenever thread native-stack caches may hold stale node ids (a new capture, a library
/// unloaded: its addresses may come back as another library's).
static NATIVE_EPOCH: AtomicU32 = AtomicU32::new(1);
static NEXT_TID: AtomicU32 = AtomicU32::new(1);
/// Number of thread names waiting for their thread's next allocation.
static PENDING_NAMES: AtomicUsize = AtomicUsize::new(0);

/// Frames a thread's buffers hold at first; they grow for deeper stacks.
const INITIAL_DEPTH: usize = 256;
/// A chunk older than this is sealed and written by the sampler, so a killed process loses
/// at most this much.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
/// How often records reach a live client.
pub const FLUSH_EVERY_LIVE: std::time::Duration = std::time::Duration::from_millis(100);
/// Uncompressed size at which a chunk is sealed.
const CHUNK_SIZE: usize = 1 << 20;

pub enum Sink {
    File(File),
    /// A capture to a regular file: the journal (see `journal`) at the capture's path, and the
    /// compressed capture written to `compressed`, an unnamed file in the same directory (or,
    /// where the file system has none, one named `temp_name`), which takes the path when
    /// tracking finishes.
    Journaled {
        journal: File,
        compressed: File,
        path: String,
        temp_name: Option<String>,
    },
    /// Live mode: the one client of a `SocketDestination`.
    Socket(std::net::TcpStream),
    Null,
}

impl Sink {
    /// Writes the capture's file header now (before tracking starts), so that the file reads as
    /// a capture, empty, whatever happens next; tracking writes the same bytes again.
    pub fn write_header_early(&self, header: &memray_format::records::Header) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if let Sink::Journaled { journal, .. } = self {
            journal.write_all_at(&memray_format::file_layout::encode_file_header(header), 0)?;
        }
        Ok(())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::File(f) | Sink::Journaled { compressed: f, .. } => f.write(buf),
            Sink::Socket(s) => {
                use std::os::fd::AsRawFd;
                // MSG_NOSIGNAL: a client that went away is an error, never a SIGPIPE.
                // SAFETY: sends from a valid buffer on an open socket.
                let n = unsafe {
                    libc::send(
                        s.as_raw_fd(),
                        buf.as_ptr().cast(),
                        buf.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }
            Sink::Null => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) | Sink::Journaled { compressed: f, .. } => f.flush(),
            Sink::Socket(_) | Sink::Null => Ok(()),
        }
    }
}

/// What a capture is started with.
#[derive(Clone, Debug)]
pub struct Options {
    pub path: String,
    pub overwrite: bool,
    pub compress: bool,
    pub follow_fork: bool,
    pub memory_interval_ms: u32,
    /// Aggregate in this process (`FileFormat::AggregatedAllocations`): keep per-location
    /// figures here and write only them, not every event.
    pub aggregate: bool,
    pub header: Header,
}

struct CodeEntry {
    id: u32,
    lines: FxHashMap<i32, u32>,
}

pub struct State {
    encoder: RecordEncoder,
    writer: Option<WriterThread>,
    pub options: Options,
    codes: FxHashMap<usize, CodeEntry>,
    trie: FxHashMap<(u32, u32, u32), u32>,
    /// (parent node, code object address, instruction index) -> node: the one lookup the
    /// common case needs. Emptied whenever a code object dies.
    frames: FxHashMap<(u32, usize, i32), u32>,
    /// (parent native node, return address) -> native node.
    native_trie: FxHashMap<(u32, usize), u32>,
    pending_names: FxHashMap<u64, String>,
    pub last_flush: Instant,
    failed: bool,
    /// Streaming to a live client: records are sent every [`FLUSH_EVERY_LIVE`].
    pub live: bool,
    /// In-process aggregation (see [`Options::aggregate`]).
    aggregated: Option<Replay>,
    /// Every record, in the kernel's hands as soon as it is made (regular files only).
    journal: Option<Journal>,
    replacement: Option<Replacement>,
}

/// A thread's memory of its last stacks: frames root first, with the node each one produced.
struct ThreadCache {
    epoch: u32,
    frames: Vec<(usize, i32, u32)>,
    codes: Vec<*mut c_void>,
    /// Per frame: last instruction index << 1 | entry flag (see `seam::python_stack`).
    words: Vec<i32>,
    native_epoch: u32,
    /// The last native stack, root first: (return address, node).
    native_frames: Vec<(usize, u32)>,
    /// Return addresses of the stack being recorded, innermost first.
    ips: Vec<usize>,
}

impl ThreadCache {
    /// Reads the thread's Python stack into `codes`/`words`; returns its depth.
    fn walk(&mut self, entries: bool) -> usize {
        loop {
            let n = seam::python_stack(&mut self.codes, &mut self.words, entries);
            if n <= self.codes.len() {
                return n;
            }
            let size = n.next_power_of_two();
            self.codes.resize(size, std::ptr::null_mut());
            self.words.resize(size, 0);
        }
    }
}

const DEAD: *mut c_void = std::ptr::dangling_mut::<c_void>();
static CACHE_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

extern "C" fn free_thread_cache(p: *mut c_void) {
    if !p.is_null() && p != DEAD {
        let _g = Guard::enter();
        seam::set_tls_state(DEAD);
        // SAFETY: `p` came from Box::into_raw in `thread_cache` and is freed once.
        drop(unsafe { Box::from_raw(p as *mut ThreadCache) });
    }
}

/// Creates the pthread key whose destructor frees each thread's cache at thread exit.
pub fn init_thread_key() {
    if CACHE_KEY.load(Acquire) != u32::MAX {
        return;
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain key creation.
    if unsafe { libc::pthread_key_create(&mut key, Some(free_thread_cache)) } == 0 {
        CACHE_KEY.store(key, Release);
    }
}

/// This thread's stack cache; None once the thread is exiting.
fn thread_cache() -> Option<&'static mut ThreadCache> {
    let p = seam::tls_state();
    if p == DEAD {
        return None;
    }
    if !p.is_null() {
        // SAFETY: only this thread uses its cache, and it lives until the thread exits.
        return Some(unsafe { &mut *(p as *mut ThreadCache) });
    }
    let key = CACHE_KEY.load(Acquire);
    if key == u32::MAX {
        return None;
    }
    let cache = Box::into_raw(Box::new(ThreadCache {
        epoch: 0,
        frames: Vec::with_capacity(64),
        codes: vec![std::ptr::null_mut(); INITIAL_DEPTH],
        words: vec![0; INITIAL_DEPTH],
        native_epoch: 0,
        native_frames: Vec::new(),
        ips: Vec::new(),
    }));
    seam::set_tls_state(cache as *mut c_void);
    // SAFETY: the key exists; keys below 32 store the value without allocating.
    unsafe { libc::pthread_setspecific(key, cache as *const c_void) };
    // SAFETY: just created, owned by this thread.
    Some(unsafe { &mut *cache })
}

/// This thread's tracker id (Memray's numbering: 1, 2, … in order of first use).
pub fn current_tid() -> u32 {
    let t = seam::tls_tid();
    if t != 0 {
        return t;
    }
    let t = NEXT_TID.fetch_add(1, Relaxed);
    seam::set_tls_tid(t);
    t
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Listens on `address:port` (live mode); the client is taken with [`wait_for_client`].
pub fn listen(address: &str, port: u16) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind((address, port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Waits up to `timeout` for the client; `Ok(None)` when none came, so the caller can check
/// for signals (Ctrl-C) between waits.
pub fn wait_for_client(
    listener: &std::net::TcpListener,
    timeout: std::time::Duration,
) -> io::Result<Option<Sink>> {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut fds, 1, timeout.as_millis() as i32) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(None)
        } else {
            Err(e)
        };
    }
    match listener.accept() {
        Ok((stream, _)) => {
            stream.set_nonblocking(false)?;
            stream.set_nodelay(true)?;
            Ok(Some(Sink::Socket(stream)))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens the capture file (never following a symlink; refusing an existing file unless
/// `overwrite`); `/dev/null` writes nothing. A regular file becomes a journal, with the
/// compressed capture written beside it (see [`Sink::Journaled`]); anything else (a pipe, a
/// device) receives the compressed capture directly.
pub fn open_sink(path: &str, overwrite: bool) -> io::Result<Sink> {
    if path == "/dev/null" {
        return Ok(Sink::Null);
    }
    let mut o = OpenOptions::new();
    o.read(true)
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW);
    if overwrite {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    let journal = o.open(path)?;
    // MEMRAY_NO_JOURNAL=1: no journal (a kill then loses the records not yet written), for file
    // systems where a shared mapping is slow.
    let no_journal = std::env::var_os("MEMRAY_NO_JOURNAL").is_some_and(|v| v != "0");
    if no_journal || !journal.metadata()?.file_type().is_file() {
        return Ok(Sink::File(journal));
    }
    let dir = dir_of(path);
    let unnamed = OpenOptions::new()
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(&dir);
    let (compressed, temp_name) = match unnamed {
        Ok(f) => (f, None),
        Err(_) => {
            let name = temp_name_in(&dir);
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&name)?;
            (f, Some(name))
        }
    };
    Ok(Sink::Journaled {
        journal,
        compressed,
        path: path.to_string(),
        temp_name,
    })
}

/// The directory a capture file is in.
fn dir_of(path: &str) -> std::path::PathBuf {
    match std::path::Path::new(path).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// A short name for a file in `dir` that becomes the capture (the capture's own name may
/// already be as long as names can be).
fn temp_name_in(dir: &std::path::Path) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Relaxed);
    dir.join(format!(".memray-{}-{n}.tmp", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

/// The compressed capture that takes the journal's place at the end.
struct Replacement {
    compressed: File,
    path: String,
    temp_name: Option<String>,
}

impl Replacement {
    /// Puts the finished compressed capture at the capture's path, in place of the journal.
    /// Signals are held back meanwhile, so one that ends the process (a Pool terminating its
    /// workers) never leaves the capture under its temporary name: it is delivered once the
    /// rename is done.
    fn put_in_place(&self) -> io::Result<()> {
        crate::quiet_thread::signals_held(|| self.link_in_place())
    }

    fn link_in_place(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let temp = match &self.temp_name {
            Some(name) => name.clone(),
            None => {
                // An unnamed file gets a name through its /proc link, then takes the path.
                let name = temp_name_in(&dir_of(&self.path));
                let fd = self.compressed.as_raw_fd();
                let from = std::ffi::CString::new(format!("/proc/self/fd/{fd}"))?;
                let to = std::ffi::CString::new(name.as_str())?;
                // SAFETY: two NUL-terminated paths.
                let r = unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        from.as_ptr(),
                        libc::AT_FDCWD,
                        to.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                };
                if r != 0 {
                    return Err(io::Error::last_os_error());
                }
                name
            }
        };
        std::fs::rename(&temp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }

    /// Tracking failed: the journal stays, the compressed capture goes.
    fn discard(&self) {
        if let Some(name) = &self.temp_name {
            let _ = std::fs::remove_file(name);
        }
    }
}

impl State {
    /// Writes the header to `sink` and starts the writer thread.
    pub fn create(options: Options, sink: Sink) -> io::Result<State> {
        let live = matches!(sink, Sink::Socket(_));
        let (sink, journal, replacement, journal_side) = match sink {
            Sink::Journaled {
                journal,
                compressed,
                path,
                temp_name,
            } => {
                let header = memray_format::file_layout::encode_file_header(&options.header);
                let appended = crate::journal::Appended::default();
                let writer_journal = journal.try_clone()?;
                let journal = Journal::create(journal, &header, CHUNK_SIZE, appended.clone())?;
                let side = JournalSide {
                    file: writer_journal,
                    at: journal.appends_at(),
                    appended,
                };
                let writer_side = compressed.try_clone()?;
                let replacement = Replacement {
                    compressed,
                    path,
                    temp_name,
                };
                (
                    Sink::File(writer_side),
                    Some(journal),
                    Some(replacement),
                    Some(side),
                )
            }
            other => (other, None, None, None),
        };
        let aggregate = options.aggregate;
        let compression = if options.compress {
            Compression::Zstd(1)
        } else {
            Compression::None
        };
        let writer = WriterThread::start(sink, &options.header, compression, journal_side)?;
        EPOCH.fetch_add(1, Relaxed);
        NATIVE_EPOCH.fetch_add(1, Relaxed);
        PENDING_NAMES.store(0, Relaxed);
        let native = options.header.native_traces;
        let mut state = State {
            encoder: RecordEncoder::new(CHUNK_SIZE),
            writer: Some(writer),
            options,
            codes: FxHashMap::default(),
            trie: FxHashMap::default(),
            frames: FxHashMap::default(),
            native_trie: FxHashMap::default(),
            pending_names: FxHashMap::default(),
            last_flush: Instant::now(),
            failed: false,
            live,
            aggregated: aggregate.then(|| Replay::new(Default::default())),
            journal,
            replacement,
        };
        if native {
            native::init();
            state.write_images();
        }
        Ok(state)
    }

    /// Records the objects loaded now, as a new image generation at the start of a chunk.
    pub fn write_images(&mut self) {
        if self.failed {
            return;
        }
        self.seal();
        self.encoder.images_reset();
        for img in native::loaded_images() {
            self.encoder.image(&img);
        }
        self.commit();
    }

    /// After `dlopen`/`dlclose`: records the new set of objects; after an unload, also starts
    /// new native nodes for every stack (an address may now belong to another library).
    pub fn images_changed(&mut self, unloaded: bool) {
        if !self.options.header.native_traces {
            return;
        }
        if unloaded {
            native::flush();
            self.native_trie.clear();
            NATIVE_EPOCH.fetch_add(1, Relaxed);
        }
        self.write_images();
    }

    /// Stops recording for good after a write error, keeping the program running.
    fn fail(&mut self, e: io::Error) {
        if !self.failed {
            self.failed = true;
            ACTIVE.store(false, Relaxed);
            eprintln!(
                "memray: could not write to {}: {e}; tracking stopped",
                self.options.path
            );
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

    /// The journal could not go on (a full disk): the capture goes on without it (a kill then
    /// loses the records not yet written by the writer thread).
    fn journal_failed(&mut self, e: io::Error) {
        eprintln!(
            "memray: could not extend {}: {e}; records now reach it only as chunks are written",
            self.options.path
        );
        self.journal = None;
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
    fn seal_if_full(&mut self) {
        if self.encoder.is_full() {
            self.seal();
        }
    }

    pub fn write_event(&mut self, e: &Event) {
        if let Some(agg) = &mut self.aggregated {
            agg.push_event(e);
            return;
        }
        if !self.failed {
            self.encoder.event(e);
            self.commit();
            self.seal_if_full();
        }
    }

    pub fn set_thread_name(&mut self, thread: u32, name: &str) {
        if !self.failed {
            self.encoder.thread_name(&ThreadName {
                thread,
                name: name.to_string(),
            });
            self.commit();
            self.seal_if_full();
        }
    }

    pub fn memory_sample(&mut self, rss: u64) {
        if let Some(agg) = &self.aggregated {
            let heap = agg.heap();
            if !self.failed {
                self.encoder.heap_sample(&HeapSample {
                    time_ms: now_ms(),
                    rss,
                    heap,
                });
                self.seal_if_full();
            }
            return;
        }
        if !self.failed {
            self.encoder.memory_sample(&MemorySample {
                time_ms: now_ms(),
                rss,
            });
            self.commit();
            self.seal_if_full();
        }
    }

    /// Writes what the in-process aggregation summed up: every location's figures, then the
    /// totals.
    fn write_aggregates(&mut self, agg: Replay) {
        if self.failed {
            return;
        }
        let a = agg.finish(Default::default(), self.options.header.clone(), None);
        for (key, st) in &a.locations {
            self.encoder.aggregate(&AggregateRecord {
                thread: key.thread,
                allocator: key.allocator,
                stack: key.stack,
                native_stack: key.native_stack,
                peak_bytes: st.peak_bytes,
                peak_count: st.peak_count,
                leaked_bytes: st.live_bytes,
                leaked_count: st.live_count,
                total_bytes: st.total_bytes,
                total_count: st.total_count,
            });
            self.seal_if_full();
        }
        self.encoder.aggregate_totals(&AggregateTotals {
            peak_memory: a.peak_memory,
            n_allocations: a.n_allocations,
            n_deallocations: a.n_deallocations,
            bytes_allocated: a.bytes_allocated,
        });
    }

    /// Hands everything buffered to the writer, so a kill loses as little as possible (with a
    /// journal, nothing is at risk: records are in the file as they are made).
    pub fn sync(&mut self) {
        if !self.failed && self.journal.is_none() {
            self.seal();
        }
        self.last_flush = Instant::now();
    }

    /// Seals the last chunk, writes the footer and waits for the file to be complete.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(agg) = self.aggregated.take() {
            self.write_aggregates(agg);
        }
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

    fn code_id(&mut self, code: *mut c_void) -> u32 {
        if let Some(e) = self.codes.get(&(code as usize)) {
            return e.id;
        }
        let (function, filename, first_line) = seam::code_info(code);
        let id = self.encoder.define_code(&CodeDef {
            function,
            filename,
            first_line,
        });
        self.codes.insert(
            code as usize,
            CodeEntry {
                id,
                lines: FxHashMap::default(),
            },
        );
        id
    }

    /// Forgets a code object that is about to be freed (its address may be reused).
    pub fn forget_code(&mut self, code: usize) {
        if self.codes.remove(&code).is_some() {
            self.frames.clear();
            EPOCH.fetch_add(1, Relaxed);
        }
    }

    fn line(&mut self, code: *mut c_void, lasti: i32) -> u32 {
        let e = self
            .codes
            .get_mut(&(code as usize))
            .expect("code interned first");
        *e.lines
            .entry(lasti)
            .or_insert_with(|| seam::code_line(code, lasti))
    }

    /// The node of frame `code` at `word` (see `seam::python_stack`) called from `parent`.
    fn node(&mut self, parent: u32, code: *mut c_void, word: i32) -> u32 {
        if let Some(&id) = self.frames.get(&(parent, code as usize, word)) {
            return id;
        }
        let code_id = self.code_id(code);
        let line = self.line(code, word >> 1);
        let entry = word & 1 != 0;
        // The entry flag rides in the key's line (lines never reach 2^31).
        let key = (parent, code_id, line << 1 | u32::from(entry));
        let id = match self.trie.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.encoder.define_node(&StackNode {
                    parent,
                    code: code_id,
                    line,
                    entry,
                });
                self.trie.insert(key, id);
                id
            }
        };
        self.frames.insert((parent, code as usize, word), id);
        id
    }

    /// The native stack id of `cache.ips[..n]` (innermost first), reusing the outer part the
    /// thread's previous native stack shares with it.
    fn native_stack_id(&mut self, cache: &mut ThreadCache, n: usize) -> u32 {
        let epoch = NATIVE_EPOCH.load(Relaxed);
        if cache.native_epoch != epoch {
            cache.native_frames.clear();
            cache.native_epoch = epoch;
        }
        let mut common = 0;
        while common < n
            && common < cache.native_frames.len()
            && cache.native_frames[common].0 == cache.ips[n - 1 - common]
        {
            common += 1;
        }
        cache.native_frames.truncate(common);
        let mut parent = cache.native_frames.last().map_or(0, |f| f.1);
        for depth in common..n {
            let ip = cache.ips[n - 1 - depth];
            parent = match self.native_trie.get(&(parent, ip)) {
                Some(&id) => id,
                None => {
                    let id = self.encoder.define_native_node(&NativeNode {
                        parent,
                        ip: ip as u64,
                    });
                    self.native_trie.insert((parent, ip), id);
                    id
                }
            };
            cache.native_frames.push((ip, parent));
        }
        parent
    }

    /// The stack id of the frames in `cache.codes[..n]` (innermost first), reusing the part
    /// the thread's previous stack shares with it.
    fn stack_id(&mut self, cache: &mut ThreadCache, n: usize) -> u32 {
        let epoch = EPOCH.load(Relaxed);
        if cache.epoch != epoch {
            cache.frames.clear();
            cache.epoch = epoch;
        }
        let mut common = 0;
        while common < n && common < cache.frames.len() {
            let (c, l, _) = cache.frames[common];
            let i = n - 1 - common;
            if c != cache.codes[i] as usize || l != cache.words[i] {
                break;
            }
            common += 1;
        }
        cache.frames.truncate(common);
        let mut parent = cache.frames.last().map_or(0, |f| f.2);
        for depth in common..n {
            let i = n - 1 - depth;
            let (code, word) = (cache.codes[i], cache.words[i]);
            parent = self.node(parent, code, word);
            cache.frames.push((code as usize, word, parent));
        }
        parent
    }

    fn flush_pending_name(&mut self, tid: u32) {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as u64;
        if let Some(name) = self.pending_names.remove(&me) {
            PENDING_NAMES.fetch_sub(1, Relaxed);
            self.set_thread_name(tid, &name);
        }
    }

    /// Names the thread whose pthread id is `ident`: now if it is the caller, else at that
    /// thread's next allocation.
    pub fn register_thread_name(&mut self, ident: u64, name: &str) {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as u64;
        if ident == me {
            let tid = current_tid();
            self.set_thread_name(tid, name);
        } else if self.pending_names.insert(ident, name.to_string()).is_none() {
            PENDING_NAMES.fetch_add(1, Relaxed);
        }
    }
}

/// Puts `errno` back as it was when dropped: recording (which may write, map or lock) must not
/// change what the program sees after the call it made.
pub struct KeepErrno(i32);

impl KeepErrno {
    #[inline]
    pub fn new() -> KeepErrno {
        // SAFETY: the calling thread's errno location is always valid.
        KeepErrno(unsafe { *libc::__errno_location() })
    }
}

impl Drop for KeepErrno {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = self.0 };
    }
}

/// Records an allocation made by the calling thread. Called from the hooks.
#[inline]
pub fn record_allocation(address: usize, size: usize, allocator: AllocatorType) {
    if !ACTIVE.load(Relaxed) {
        return;
    }
    let Some(_guard) = Guard::enter() else {
        return;
    };
    let _errno = KeepErrno::new();
    let tid = current_tid();
    let mut cache = thread_cache();
    let native = NATIVE.load(Relaxed);
    let (n, n_native) = match cache.as_deref_mut() {
        Some(c) if native => {
            if c.ips.is_empty() {
                c.ips.resize(INITIAL_DEPTH, 0);
            }
            (c.walk(true), native::unwind(&mut c.ips))
        }
        Some(c) => (c.walk(false), 0),
        None => (0, 0),
    };
    let mut st = STATE.lock();
    let Some(state) = st.as_mut() else {
        return;
    };
    if PENDING_NAMES.load(Relaxed) > 0 {
        state.flush_pending_name(tid);
    }
    let (stack, native_stack) = match cache {
        Some(c) => {
            let stack = state.stack_id(c, n);
            let native_stack = if n_native > 0 {
                state.native_stack_id(c, n_native)
            } else {
                0
            };
            (stack, native_stack)
        }
        None => (0, 0),
    };
    state.write_event(&Event {
        allocator,
        thread: tid,
        address: address as u64,
        size: size as u64,
        stack,
        native_stack,
    });
}

/// Records a deallocation (`free`, `munmap` with its length, the pymalloc free).
#[inline]
pub fn record_deallocation(address: usize, size: usize, allocator: AllocatorType) {
    if !ACTIVE.load(Relaxed) {
        return;
    }
    let Some(_guard) = Guard::enter() else {
        return;
    };
    let _errno = KeepErrno::new();
    let tid = current_tid();
    let mut st = STATE.lock();
    if let Some(state) = st.as_mut() {
        state.write_event(&Event {
            allocator,
            thread: tid,
            address: address as u64,
            size: size as u64,
            stack: 0,
            native_stack: 0,
        });
    }
}

/// Records the calling thread's name (from `prctl(PR_SET_NAME)`).
pub fn record_thread_name(name: &str) {
    if !ACTIVE.load(Relaxed) {
        return;
    }
    let Some(_guard) = Guard::enter() else {
        return;
    };
    let _errno = KeepErrno::new();
    let tid = current_tid();
    if let Some(state) = STATE.lock().as_mut() {
        state.set_thread_name(tid, name);
    }
}

/// Number of Python frames on the calling thread's stack.
pub fn python_depth() -> usize {
    seam::python_stack(&mut [], &mut [], false)
}

/// Called (with the GIL held) for every code object about to be freed while tracking.
pub extern "C" fn on_code_death(code: *mut c_void) {
    let _guard = Guard::enter();
    if let Some(state) = STATE.lock().as_mut() {
        state.forget_code(code as usize);
    }
}
