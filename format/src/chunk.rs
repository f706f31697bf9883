//! One chunk: the fixed chunk header, and the encoder/decoder of the records inside its payload.
//! Delta state (previous address, stack, code, ip, thread) starts from zero in every chunk, so
//! each chunk decodes on its own.

#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::error::FormatError;
use crate::records::*;
use crate::varint::{put_bytes, put_u64, zigzag, Cursor};

pub const CHUNK_MAGIC: [u8; 4] = *b"MRC1";
pub const CHUNK_HEADER_LEN: usize = 36;
pub const FLAG_LZ4: u8 = 1;
/// Upper bound on a chunk's decoded payload; anything larger is corrupt.
pub const MAX_CHUNK_RAW_LEN: u32 = 64 << 20;

pub const FLAG_ZSTD: u8 = 2;
/// An *open* chunk (format version 2): the tracker's journal copy of the chunk it is filling,
/// stored raw, whose `stored_len` grows record by record while `raw_len`, `n_events` and the
/// checksum stay 0 until it is sealed (flags 0). Only an incomplete capture (the tracked process
/// was killed) ends with one; readers take its first `stored_len` bytes as they are.
pub const FLAG_OPEN: u8 = 4;
/// The journal's ring (format version 3, see `journal_ring`): a region of fixed slots holding the
/// chunks not yet written compressed. Only ever the first chunk of a file; `stored_len` is the
/// ring's length, `raw_len` one slot's, `n_events` the number of slots.
pub const FLAG_RING: u8 = 8;

// Control records (tag byte < 0x80).
pub const TAG_THREAD: u8 = 0x01;
pub const TAG_THREAD_NAME: u8 = 0x02;
pub const TAG_CODE: u8 = 0x03;
pub const TAG_NODE: u8 = 0x04;
pub const TAG_MEMORY: u8 = 0x05;
pub const TAG_NATIVE_NODE: u8 = 0x06;
pub const TAG_IMAGE: u8 = 0x07;
pub const TAG_IMAGES_RESET: u8 = 0x08;
pub const TAG_HEAP_SAMPLE: u8 = 0x09;
pub const TAG_AGGREGATE: u8 = 0x0a;
pub const TAG_AGGREGATE_TOTALS: u8 = 0x0b;

// Events: 0x80 | flags | allocator (low four bits).
pub const TAG_EVENT: u8 = 0x80;
/// A native stack id follows.
pub const EV_NATIVE: u8 = 0x40;
/// The address is one of the last [`RING`] distinct addresses: a one-byte slot number follows
/// instead of the address delta.
pub const EV_RING: u8 = 0x20;
/// The size equals the previous allocation's size and is not written.
pub const EV_SAME_SIZE: u8 = 0x10;
/// Number of recently seen addresses both sides remember.
pub const RING: usize = 16;

/// The 36-byte header in front of every chunk's stored payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkHeader {
    pub flags: u8,
    pub stored_len: u32,
    pub raw_len: u32,
    pub n_events: u32,
    /// Number of code definitions written before this chunk (first id defined here).
    pub code_base: u32,
    /// Number of stack nodes defined before this chunk (ids defined here start at base + 1).
    pub node_base: u32,
    pub native_base: u32,
    pub crc32: u32,
}

impl ChunkHeader {
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut out = [0u8; CHUNK_HEADER_LEN];
        let words = [
            u32::from_le_bytes(CHUNK_MAGIC),
            u32::from(self.flags),
            self.stored_len,
            self.raw_len,
            self.n_events,
            self.code_base,
            self.node_base,
            self.native_base,
            self.crc32,
        ];
        for (bytes, w) in out.chunks_exact_mut(4).zip(words) {
            bytes.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn decode(b: &[u8], offset: u64) -> Result<Self, FormatError> {
        let [magic, flag_word, fields @ ..] =
            header_words(b).ok_or(FormatError::Truncated { offset })?;
        if magic.to_le_bytes() != CHUNK_MAGIC {
            return Err(FormatError::corrupt(offset, "bad chunk magic"));
        }
        let [flags, reserved @ ..] = flag_word.to_le_bytes();
        if reserved != [0, 0, 0]
            || !matches!(flags, 0 | FLAG_LZ4 | FLAG_ZSTD | FLAG_OPEN | FLAG_RING)
        {
            return Err(FormatError::corrupt(offset, "unknown chunk flags"));
        }
        let [stored_len, raw_len, n_events, code_base, node_base, native_base, crc32] = fields;
        let mut h = ChunkHeader {
            flags,
            stored_len,
            raw_len,
            n_events,
            code_base,
            node_base,
            native_base,
            crc32,
        };
        if h.flags == FLAG_OPEN {
            // Only the stored length is kept up to date while a chunk is open.
            h.raw_len = h.stored_len;
        }
        if h.flags == FLAG_RING {
            let fits = u64::from(h.raw_len) >= crate::journal_ring::SLOT_OVERHEAD as u64
                && h.n_events > 0
                && h.raw_len.checked_mul(h.n_events) == Some(h.stored_len)
                && h.stored_len <= 4 * MAX_CHUNK_RAW_LEN;
            if !fits {
                return Err(FormatError::corrupt(
                    offset,
                    "journal ring layout is invalid",
                ));
            }
            return Ok(h);
        }
        if h.raw_len > MAX_CHUNK_RAW_LEN || h.stored_len > MAX_CHUNK_RAW_LEN + 1024 {
            return Err(FormatError::corrupt(offset, "chunk length out of range"));
        }
        if matches!(h.flags, 0 | FLAG_OPEN) && h.stored_len != h.raw_len {
            return Err(FormatError::corrupt(offset, "chunk lengths disagree"));
        }
        Ok(h)
    }

    /// The chunk's stored payload, from `chunk`, which starts at this header; None when `chunk`
    /// ends first.
    pub(crate) fn stored_in<'a>(&self, chunk: &'a [u8]) -> Option<&'a [u8]> {
        chunk
            .get(CHUNK_HEADER_LEN..)?
            .get(..self.stored_len as usize)
    }

    /// The file offset just past the chunk, which starts at `offset`; None past `u64::MAX`.
    pub(crate) fn end(&self, offset: u64) -> Option<u64> {
        offset
            .checked_add(CHUNK_HEADER_LEN as u64)?
            .checked_add(u64::from(self.stored_len))
    }
}

/// A chunk header's nine little-endian words (magic, flags, then the fields), or None when `b`
/// is shorter than a header.
fn header_words(b: &[u8]) -> Option<[u32; 9]> {
    let mut words = [0u32; 9];
    let mut rest = b;
    for w in words.iter_mut() {
        let (bytes, tail) = rest.split_first_chunk()?;
        *w = u32::from_le_bytes(*bytes);
        rest = tail;
    }
    Some(words)
}

/// The recently seen addresses, in slots overwritten round-robin (the same on both sides).
#[derive(Clone, Copy)]
struct AddressRing {
    slots: [u64; RING],
    next: usize,
}

impl Default for AddressRing {
    fn default() -> Self {
        AddressRing {
            slots: [u64::MAX; RING],
            next: 0,
        }
    }
}

impl AddressRing {
    #[inline]
    fn find(&self, addr: u64) -> Option<usize> {
        self.slots.iter().position(|&a| a == addr)
    }

    // The slot index is this process's own round-robin counter, always below RING.
    #[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
    #[inline]
    fn push(&mut self, addr: u64) {
        self.slots[self.next] = addr;
        self.next = (self.next + 1) % RING;
    }
}

/// Encodes records into one chunk's payload, keeping the per-chunk delta state.
#[derive(Default)]
pub struct ChunkEncoder {
    pub buf: Vec<u8>,
    pub n_events: u32,
    thread: Option<u32>,
    prev_address: u64,
    prev_size: u64,
    prev_stack: u32,
    prev_native: u32,
    prev_code: u32,
    prev_ip: u64,
    ring: AddressRing,
}

// Writer side: ids, deltas and counts of records this process made, not read from a file.
#[allow(clippy::arithmetic_side_effects)]
impl ChunkEncoder {
    pub fn with_capacity(cap: usize) -> Self {
        ChunkEncoder {
            buf: Vec::with_capacity(cap),
            ..Default::default()
        }
    }

    /// Forgets the delta state and the payload, ready for the next chunk.
    pub fn reset(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        *self = ChunkEncoder {
            buf,
            ..Default::default()
        };
        self.buf.clear();
    }

    #[inline]
    fn switch_thread(&mut self, thread: u32) {
        if self.thread != Some(thread) {
            self.buf.push(TAG_THREAD);
            put_u64(&mut self.buf, u64::from(thread));
            self.thread = Some(thread);
        }
    }

    #[inline]
    pub fn event(&mut self, e: &Event) {
        self.switch_thread(e.thread);
        let dealloc = e.allocator.is_deallocator();
        let native = !dealloc && e.native_stack != 0;
        let slot = if e.address == u64::MAX {
            None // the empty-slot marker never names an address
        } else {
            self.ring.find(e.address)
        };
        let same_size = !dealloc && e.size == self.prev_size;
        let mut tag = TAG_EVENT | e.allocator as u8;
        if native {
            tag |= EV_NATIVE;
        }
        if slot.is_some() {
            tag |= EV_RING;
        }
        if same_size {
            tag |= EV_SAME_SIZE;
        }
        self.buf.push(tag);
        match slot {
            Some(i) => self.buf.push(i as u8),
            None => {
                put_u64(
                    &mut self.buf,
                    zigzag(e.address.wrapping_sub(self.prev_address) as i64),
                );
                self.ring.push(e.address);
            }
        }
        self.prev_address = e.address;
        match e.allocator {
            AllocatorType::Free | AllocatorType::PymallocFree => {}
            AllocatorType::Munmap => put_u64(&mut self.buf, e.size),
            _ => {
                if !same_size {
                    put_u64(&mut self.buf, e.size);
                    self.prev_size = e.size;
                }
                put_u64(
                    &mut self.buf,
                    zigzag(i64::from(e.stack) - i64::from(self.prev_stack)),
                );
                self.prev_stack = e.stack;
                if native {
                    put_u64(
                        &mut self.buf,
                        zigzag(i64::from(e.native_stack) - i64::from(self.prev_native)),
                    );
                    self.prev_native = e.native_stack;
                }
            }
        }
        self.n_events += 1;
    }

    pub fn thread_name(&mut self, t: &ThreadName) {
        self.buf.push(TAG_THREAD_NAME);
        put_u64(&mut self.buf, u64::from(t.thread));
        put_bytes(&mut self.buf, t.name.as_bytes());
    }

    pub fn code(&mut self, c: &CodeDef) {
        self.buf.push(TAG_CODE);
        put_bytes(&mut self.buf, c.function.as_bytes());
        put_bytes(&mut self.buf, c.filename.as_bytes());
        put_u64(&mut self.buf, u64::from(c.first_line));
    }

    /// `id` is the id the node receives (the writer's running count).
    pub fn node(&mut self, id: u32, n: &StackNode) {
        self.buf.push(TAG_NODE);
        put_u64(&mut self.buf, u64::from(id - n.parent));
        put_u64(
            &mut self.buf,
            zigzag(i64::from(n.code) - i64::from(self.prev_code)),
        );
        self.prev_code = n.code;
        put_u64(&mut self.buf, u64::from(n.line) << 1 | u64::from(!n.entry));
    }

    pub fn native_node(&mut self, id: u32, n: &NativeNode) {
        self.buf.push(TAG_NATIVE_NODE);
        put_u64(&mut self.buf, u64::from(id - n.parent));
        put_u64(
            &mut self.buf,
            zigzag(n.ip.wrapping_sub(self.prev_ip) as i64),
        );
        self.prev_ip = n.ip;
    }

    pub fn memory(&mut self, m: &MemorySample) {
        self.buf.push(TAG_MEMORY);
        put_u64(&mut self.buf, m.time_ms);
        put_u64(&mut self.buf, m.rss);
    }

    pub fn image(&mut self, img: &ImageMap) {
        self.buf.push(TAG_IMAGE);
        put_bytes(&mut self.buf, img.path.as_bytes());
        put_u64(&mut self.buf, img.load_address);
        put_u64(&mut self.buf, img.segments.len() as u64);
        for &(vaddr, size) in &img.segments {
            put_u64(&mut self.buf, vaddr);
            put_u64(&mut self.buf, size);
        }
        put_bytes(&mut self.buf, &img.build_id);
    }

    pub fn images_reset(&mut self) {
        self.buf.push(TAG_IMAGES_RESET);
    }

    pub fn heap_sample(&mut self, m: &HeapSample) {
        self.buf.push(TAG_HEAP_SAMPLE);
        for v in [m.time_ms, m.rss, m.heap] {
            put_u64(&mut self.buf, v);
        }
    }

    pub fn aggregate(&mut self, a: &AggregateRecord) {
        self.buf.push(TAG_AGGREGATE);
        self.buf.push(a.allocator as u8);
        for v in [
            u64::from(a.thread),
            u64::from(a.stack),
            u64::from(a.native_stack),
            a.peak_bytes,
            a.peak_count,
            a.leaked_bytes,
            a.leaked_count,
            a.total_bytes,
            a.total_count,
        ] {
            put_u64(&mut self.buf, v);
        }
    }

    pub fn aggregate_totals(&mut self, t: &AggregateTotals) {
        self.buf.push(TAG_AGGREGATE_TOTALS);
        for v in [
            t.peak_memory,
            t.n_allocations,
            t.n_deallocations,
            t.bytes_allocated,
        ] {
            put_u64(&mut self.buf, v);
        }
    }
}

/// Everything one chunk holds, decoded. Definitions carry their global ids implicitly:
/// `codes[i]` has id `code_base + i`, `nodes[i]` has id `node_base + 1 + i`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Chunk {
    pub code_base: u32,
    pub node_base: u32,
    pub native_base: u32,
    pub events: Vec<Event>,
    pub codes: Vec<CodeDef>,
    pub nodes: Vec<StackNode>,
    pub native_nodes: Vec<NativeNode>,
    /// Samples with the index (in `events`) of the first event after them.
    pub samples: Vec<(u32, MemorySample)>,
    pub thread_names: Vec<ThreadName>,
    /// For each of `thread_names`, the index (in `events`) of the first event after it, so a
    /// thread's name at each of its events is known (filled by [`decode_payload`] only).
    pub thread_name_at: Vec<u32>,
    /// Image-map updates, with `None` meaning "forget all images recorded so far".
    pub images: Vec<Option<ImageMap>>,
    /// Aggregated captures: samples with the tracker's heap size, locations and totals.
    pub heap_samples: Vec<HeapSample>,
    pub aggregates: Vec<AggregateRecord>,
    pub aggregate_totals: Option<AggregateTotals>,
}

/// One record of a chunk payload, in the order it was written (for dumps; reports use
/// [`decode_payload`], which gathers them into a [`Chunk`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The thread of the events that follow.
    Thread(u32),
    ThreadName(ThreadName),
    /// A code location and its id.
    Code(u32, CodeDef),
    /// A Python stack node and its id.
    Node(u32, StackNode),
    /// A native stack node and its id.
    NativeNode(u32, NativeNode),
    Memory(MemorySample),
    Image(ImageMap),
    ImagesReset,
    Event(Event),
    HeapSample(HeapSample),
    Aggregate(AggregateRecord),
    AggregateTotals(AggregateTotals),
}

/// Decodes a chunk payload (already decompressed) into a [`Chunk`]. `offset` is for error
/// messages.
pub fn decode_payload(h: &ChunkHeader, payload: &[u8], offset: u64) -> Result<Chunk, FormatError> {
    let mut chunk = Chunk {
        code_base: h.code_base,
        node_base: h.node_base,
        native_base: h.native_base,
        events: Vec::with_capacity(h.n_events.min(payload.len() as u32) as usize),
        ..Default::default()
    };
    decode_records(h, payload, offset, |r| match r {
        Record::Thread(_) => {}
        Record::ThreadName(t) => {
            chunk.thread_name_at.push(chunk.events.len() as u32);
            chunk.thread_names.push(t);
        }
        Record::Code(_, c) => chunk.codes.push(c),
        Record::Node(_, n) => chunk.nodes.push(n),
        Record::NativeNode(_, n) => chunk.native_nodes.push(n),
        Record::Memory(m) => chunk.samples.push((chunk.events.len() as u32, m)),
        Record::Image(i) => chunk.images.push(Some(i)),
        Record::ImagesReset => chunk.images.push(None),
        Record::Event(e) => chunk.events.push(e),
        Record::HeapSample(s) => chunk.heap_samples.push(s),
        Record::Aggregate(a) => chunk.aggregates.push(a),
        Record::AggregateTotals(t) => chunk.aggregate_totals = Some(t),
    })?;
    Ok(chunk)
}

/// Decodes a chunk payload (already decompressed) record by record, handing each to `f` in
/// file order. Checks the event count against the chunk header. `offset` is for error messages.
pub fn decode_records(
    h: &ChunkHeader,
    payload: &[u8],
    offset: u64,
    mut f: impl FnMut(Record),
) -> Result<(), FormatError> {
    let bad = |what: &str| FormatError::corrupt(offset, what);
    let mut c = Cursor::new(payload);
    // The ids the next definitions receive; None past `u32::MAX`.
    let mut next_code = Some(h.code_base);
    let mut next_node = h.node_base.checked_add(1);
    let mut next_native = h.native_base.checked_add(1);
    let mut n_events = 0u32;
    let mut thread: Option<u32> = None;
    let (
        mut prev_address,
        mut prev_size,
        mut prev_stack,
        mut prev_native,
        mut prev_code,
        mut prev_ip,
    ) = (0u64, 0u64, 0u32, 0u32, 0u32, 0u64);
    let mut ring = AddressRing::default();
    let trunc = || FormatError::corrupt(offset, "record runs past the end of its chunk");
    while !c.is_empty() {
        let tag = c.u8().ok_or_else(trunc)?;
        match tag {
            TAG_THREAD => {
                let t = c.u32().ok_or_else(trunc)?;
                thread = Some(t);
                f(Record::Thread(t));
            }
            TAG_THREAD_NAME => {
                let thread = c.u32().ok_or_else(trunc)?;
                let name = c.string().ok_or_else(trunc)?;
                f(Record::ThreadName(ThreadName { thread, name }));
            }
            TAG_CODE => {
                let function = c.string().ok_or_else(trunc)?;
                let filename = c.string().ok_or_else(trunc)?;
                let first_line = c.u32().ok_or_else(trunc)?;
                let id = next_code.ok_or_else(|| bad("code id out of range"))?;
                next_code = id.checked_add(1);
                f(Record::Code(
                    id,
                    CodeDef {
                        function,
                        filename,
                        first_line,
                    },
                ));
            }
            TAG_NODE => {
                let id = next_node.ok_or_else(|| bad("stack node id out of range"))?;
                let parent = parent_of(id, c.u64().ok_or_else(trunc)?)
                    .ok_or_else(|| bad("stack node refers to a later parent"))?;
                // A sum that wraps is negative, so the range check below catches it.
                let code = i64::from(prev_code).wrapping_add(c.i64().ok_or_else(trunc)?);
                let code = u32::try_from(code).map_err(|_| bad("code id out of range"))?;
                prev_code = code;
                let word = c.u64().ok_or_else(trunc)?;
                let line = u32::try_from(word >> 1).map_err(|_| bad("line out of range"))?;
                next_node = id.checked_add(1);
                f(Record::Node(
                    id,
                    StackNode {
                        parent,
                        code,
                        line,
                        entry: word & 1 == 0,
                    },
                ));
            }
            TAG_NATIVE_NODE => {
                let id = next_native.ok_or_else(|| bad("native node id out of range"))?;
                let parent = parent_of(id, c.u64().ok_or_else(trunc)?)
                    .ok_or_else(|| bad("native node refers to a later parent"))?;
                let ip = prev_ip.wrapping_add(c.i64().ok_or_else(trunc)? as u64);
                prev_ip = ip;
                next_native = id.checked_add(1);
                f(Record::NativeNode(id, NativeNode { parent, ip }));
            }
            TAG_MEMORY => {
                let time_ms = c.u64().ok_or_else(trunc)?;
                let rss = c.u64().ok_or_else(trunc)?;
                f(Record::Memory(MemorySample { time_ms, rss }));
            }
            TAG_IMAGE => {
                let path = c.string().ok_or_else(trunc)?;
                let load_address = c.u64().ok_or_else(trunc)?;
                let n = c.u64().ok_or_else(trunc)?;
                if n > payload.len() as u64 {
                    return Err(bad("image segment count out of range"));
                }
                let mut segments = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    segments.push((c.u64().ok_or_else(trunc)?, c.u64().ok_or_else(trunc)?));
                }
                let build_id = c.bytes().ok_or_else(trunc)?.to_vec();
                f(Record::Image(ImageMap {
                    path,
                    load_address,
                    segments,
                    build_id,
                }));
            }
            TAG_IMAGES_RESET => f(Record::ImagesReset),
            TAG_HEAP_SAMPLE => {
                let time_ms = c.u64().ok_or_else(trunc)?;
                let rss = c.u64().ok_or_else(trunc)?;
                let heap = c.u64().ok_or_else(trunc)?;
                f(Record::HeapSample(HeapSample { time_ms, rss, heap }));
            }
            TAG_AGGREGATE => {
                let allocator = AllocatorType::from_u8(c.u8().ok_or_else(trunc)?)
                    .filter(|a| !a.is_deallocator())
                    .ok_or_else(|| bad("unknown allocator in aggregate"))?;
                let mut v = [0u64; 9];
                for x in v.iter_mut() {
                    *x = c.u64().ok_or_else(trunc)?;
                }
                let id = |x: u64| u32::try_from(x).map_err(|_| bad("id out of range"));
                f(Record::Aggregate(AggregateRecord {
                    thread: id(v[0])?,
                    allocator,
                    stack: id(v[1])?,
                    native_stack: id(v[2])?,
                    peak_bytes: v[3],
                    peak_count: v[4],
                    leaked_bytes: v[5],
                    leaked_count: v[6],
                    total_bytes: v[7],
                    total_count: v[8],
                }));
            }
            TAG_AGGREGATE_TOTALS => {
                let mut v = [0u64; 4];
                for x in v.iter_mut() {
                    *x = c.u64().ok_or_else(trunc)?;
                }
                f(Record::AggregateTotals(AggregateTotals {
                    peak_memory: v[0],
                    n_allocations: v[1],
                    n_deallocations: v[2],
                    bytes_allocated: v[3],
                }));
            }
            _ if tag & TAG_EVENT != 0 => {
                let allocator = AllocatorType::from_u8(tag & 0x0f)
                    .ok_or_else(|| bad("unknown allocator in event"))?;
                let native = tag & EV_NATIVE != 0;
                let dealloc = allocator.is_deallocator();
                if (native || tag & EV_SAME_SIZE != 0) && dealloc {
                    return Err(bad("deallocation with allocation-only flags"));
                }
                let thread = thread.ok_or_else(|| bad("event before any thread record"))?;
                let address = if tag & EV_RING != 0 {
                    let slot = c.u8().ok_or_else(trunc)? as usize;
                    *ring
                        .slots
                        .get(slot)
                        .filter(|&&a| a != u64::MAX)
                        .ok_or_else(|| bad("event refers to an empty address slot"))?
                } else {
                    let a = prev_address.wrapping_add(c.i64().ok_or_else(trunc)? as u64);
                    ring.push(a);
                    a
                };
                prev_address = address;
                let (mut size, mut stack, mut native_stack) = (0u64, 0u32, 0u32);
                match allocator {
                    AllocatorType::Free | AllocatorType::PymallocFree => {}
                    AllocatorType::Munmap => size = c.u64().ok_or_else(trunc)?,
                    _ => {
                        if tag & EV_SAME_SIZE != 0 {
                            size = prev_size;
                        } else {
                            size = c.u64().ok_or_else(trunc)?;
                            prev_size = size;
                        }
                        // A sum that wraps is negative, so the range checks catch it.
                        let s = i64::from(prev_stack).wrapping_add(c.i64().ok_or_else(trunc)?);
                        stack = u32::try_from(s).map_err(|_| bad("stack id out of range"))?;
                        prev_stack = stack;
                        if native {
                            let n = i64::from(prev_native).wrapping_add(c.i64().ok_or_else(trunc)?);
                            native_stack =
                                u32::try_from(n).map_err(|_| bad("native id out of range"))?;
                            prev_native = native_stack;
                        }
                    }
                }
                n_events = n_events
                    .checked_add(1)
                    .ok_or_else(|| bad("chunk event count disagrees with its header"))?;
                f(Record::Event(Event {
                    allocator,
                    thread,
                    address,
                    size,
                    stack,
                    native_stack,
                }));
            }
            _ => return Err(bad("unknown record tag")),
        }
    }
    // An open chunk's header counts no events (see FLAG_OPEN).
    if n_events != h.n_events && h.flags != FLAG_OPEN {
        return Err(bad("chunk event count disagrees with its header"));
    }
    Ok(())
}

/// The parent of node `id` written `back` ids before it; None unless `1 <= back <= id`.
#[inline]
fn parent_of(id: u32, back: u64) -> Option<u32> {
    let back = u32::try_from(back).ok().filter(|&b| b >= 1)?;
    id.checked_sub(back)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload of a thread record followed by `records` (already encoded).
    fn payload(records: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![TAG_THREAD, 1];
        for r in records {
            out.extend_from_slice(r);
        }
        out
    }

    /// A malloc event at address delta 0, size 8, with these stack and native id deltas.
    fn malloc(stack_delta: i64, native_delta: i64) -> Vec<u8> {
        let mut out = vec![TAG_EVENT | EV_NATIVE | AllocatorType::Malloc as u8, 0, 8];
        put_u64(&mut out, zigzag(stack_delta));
        put_u64(&mut out, zigzag(native_delta));
        out
    }

    fn decode_error(h: &ChunkHeader, payload: &[u8]) -> String {
        match decode_records(h, payload, 100, |_| {}) {
            Ok(()) => panic!("decoded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn id_deltas_that_overflow_are_errors() {
        let h = ChunkHeader {
            n_events: 2,
            ..ChunkHeader::default()
        };
        // The second delta would take the id past i64::MAX.
        let stack = payload(&[&malloc(1, 1), &malloc(i64::MAX, 0)]);
        assert!(decode_error(&h, &stack).ends_with("stack id out of range"));
        let native = payload(&[&malloc(1, 1), &malloc(0, i64::MAX)]);
        assert!(decode_error(&h, &native).ends_with("native id out of range"));
        let h = ChunkHeader::default();
        let mut node = vec![TAG_NODE, 1];
        put_u64(&mut node, zigzag(1));
        node.push(2);
        let mut far = vec![TAG_NODE, 1];
        put_u64(&mut far, zigzag(i64::MAX));
        far.push(2);
        assert!(decode_error(&h, &payload(&[&node, &far])).ends_with("code id out of range"));
    }

    #[test]
    fn ids_past_u32_max_are_errors() {
        let code = [TAG_CODE, 0, 0, 1];
        let h = ChunkHeader {
            code_base: u32::MAX,
            ..ChunkHeader::default()
        };
        let mut ids = Vec::new();
        decode_records(&h, &payload(&[&code]), 100, |r| {
            if let Record::Code(id, _) = r {
                ids.push(id);
            }
        })
        .unwrap();
        assert_eq!(ids, [u32::MAX]);
        assert!(decode_error(&h, &payload(&[&code, &code])).ends_with("code id out of range"));
        let h = ChunkHeader {
            node_base: u32::MAX,
            native_base: u32::MAX,
            ..ChunkHeader::default()
        };
        let node = [TAG_NODE, 1, 0, 2];
        assert!(decode_error(&h, &payload(&[&node])).ends_with("stack node id out of range"));
        let native = [TAG_NATIVE_NODE, 1, 0];
        assert!(decode_error(&h, &payload(&[&native])).ends_with("native node id out of range"));
    }

    #[test]
    fn a_short_header_is_truncated() {
        let b = ChunkHeader::default().encode();
        for n in 0..CHUNK_HEADER_LEN {
            let at = b.get(..n).unwrap();
            assert!(matches!(
                ChunkHeader::decode(at, 7),
                Err(FormatError::Truncated { offset: 7 })
            ));
        }
        assert_eq!(ChunkHeader::decode(&b, 7).unwrap(), ChunkHeader::default());
    }
}
