//! The state of a capture, which the tracker keeps behind one lock (so that records from every
//! thread land in one global order): its options, the stack interner, the record writer, and
//! the thread names waiting for their threads.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use memray_format::records::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::interner::StackInterner;
use super::record_writer::RecordWriter;
use super::sink::Sink;
use super::thread_cache::ThreadCache;
use super::{current_tid, PENDING_NAMES};
use crate::{native, sampling};

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
    /// `--sample-seed`: the seed of a sampled capture's generators (None: a fresh one).
    pub sample_seed: Option<u64>,
    pub header: Header,
}

pub struct State {
    interner: StackInterner,
    writer: RecordWriter,
    pub options: Options,
    pending_names: FxHashMap<u64, String>,
    pub last_flush: Instant,
    /// Streaming to a live client: records are sent every [`super::FLUSH_EVERY_LIVE`].
    pub live: bool,
    /// Sampled captures: the addresses of the sampled blocks still live (see `sampling`).
    sampled: FxHashSet<u64>,
}

impl State {
    /// Writes the header to `sink` and starts the writer thread.
    pub fn create(options: Options, sink: Sink) -> io::Result<State> {
        let live = sink.is_socket();
        let writer = RecordWriter::create(
            sink,
            &options.header,
            options.compress,
            options.aggregate,
            &options.path,
        )?;
        let interner = StackInterner::new();
        PENDING_NAMES.store(0, Relaxed);
        let native = options.header.native_traces;
        let mut state = State {
            interner,
            writer,
            options,
            pending_names: FxHashMap::default(),
            last_flush: Instant::now(),
            live,
            sampled: FxHashSet::default(),
        };
        if native {
            native::init();
            state.write_images();
        }
        Ok(state)
    }

    /// Records the objects loaded now, as a new image generation at the start of a chunk.
    pub fn write_images(&mut self) {
        let out = self.writer.output();
        if out.ok() {
            out.images(native::loaded_images());
        }
    }

    /// After `dlopen`/`dlclose`: records the new set of objects; after an unload, also starts
    /// new native nodes for every stack (an address may now belong to another library).
    pub fn images_changed(&mut self, unloaded: bool) {
        if !self.options.header.native_traces {
            return;
        }
        if unloaded {
            native::flush();
            self.interner.forget_native();
        }
        self.write_images();
    }

    /// Records an allocation or deallocation by thread `thread` whose Python stack is
    /// `cache.codes[..n]` and native stack `cache.ips[..n_native]` (no stacks without a cache).
    #[inline]
    pub(super) fn record(
        &mut self,
        cache: Option<&mut ThreadCache>,
        n: usize,
        n_native: usize,
        mut event: Event,
    ) {
        if let Some(c) = cache {
            let out = self.writer.output().encoder();
            event.stack = self.interner.stack_id(c, n, out);
            if n_native > 0 {
                event.native_stack = self.interner.native_stack_id(c, n_native, out);
            }
        }
        self.writer.event(&event);
    }

    /// A sampled block was just recorded at `address`.
    #[inline]
    pub fn note_sampled(&mut self, address: usize) {
        if self.sampled.insert(address as u64) {
            sampling::note_sampled(address);
        }
    }

    /// Whether `address` holds a sampled block, which it no longer does.
    #[inline]
    pub fn forget_sampled(&mut self, address: usize) -> bool {
        let was = self.sampled.remove(&(address as u64));
        if was {
            sampling::note_freed(address);
        }
        was
    }

    /// Records a deallocation or another event without a stack.
    #[inline]
    pub fn write_event(&mut self, e: &Event) {
        self.writer.event(e);
    }

    pub fn memory_sample(&mut self, rss: u64) {
        self.writer.memory_sample(rss);
    }

    /// Hands everything buffered to the writer, so a kill loses as little as possible.
    pub fn sync(&mut self) {
        self.writer.output().sync();
        self.last_flush = Instant::now();
    }

    /// Seals the last chunk, writes the footer and waits for the file to be complete.
    pub fn finish(self) -> io::Result<()> {
        self.writer.finish(&self.options.header)
    }

    /// Forgets a code object that is about to be freed (its address may be reused).
    pub fn forget_code(&mut self, code: usize) {
        self.interner.forget_code(code);
    }

    pub fn set_thread_name(&mut self, thread: u32, name: &str) {
        self.writer.output().thread_name(thread, name);
    }

    /// Writes the calling thread's name if one is waiting for it.
    pub fn flush_pending_name(&mut self, tid: u32) {
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
