//! The capture file as a journal while tracking: every record is copied into a shared mapping
//! of the file the moment it is encoded, so it is in the kernel's hands at once and a process
//! that is killed (SIGKILL, a signal's default action, a crash, a `with Pool` block terminating
//! its workers) loses nothing it recorded.
//!
//! The file is laid out as `memray_format::journal_ring` describes: the header, a ring of slots,
//! then the compressed chunks the writer thread appends (see `writer_thread`). The chunk being
//! filled lives, open, in a slot; sealed, it stays there raw until the writer has appended it
//! compressed, and the slot then takes a later chunk. So the file grows by compressed bytes
//! only, and the same few pages of the page cache take the raw records over and over. The
//! compressed capture is written meanwhile to a file of its own too (`tracker::open_sink`),
//! which replaces this one when tracking finishes.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{compiler_fence, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memray_format::chunk::{ChunkHeader, FLAG_OPEN};
use memray_format::journal_ring::{ring_header, SLOT_OVERHEAD, SLOT_PREFIX_LEN};

/// Slots in the ring: one filling, the rest waiting for the writer (whose queue holds eight)
/// or being compressed. When all are taken the tracker waits for the writer, as it would for
/// room in its queue. Every slot's pages stay mapped (about a chunk each, in the resident set).
const SLOTS: u32 = 8;
/// One slot's bytes: room for a chunk of the tracker's size (1 MiB) plus its last record, which
/// may be large; a chunk that outgrows its slot is written through the writer and waited for.
const STRIDE: usize = 2 << 20;
const MADV_POPULATE_WRITE: libc::c_int = 23;
/// Offsets of the chunk header's fields.
const FLAGS_AT: usize = 4;
const STORED_LEN_AT: usize = 8;
const RAW_LEN_AT: usize = 12;
const N_EVENTS_AT: usize = 16;
const CRC_AT: usize = 32;

/// Chunks the writer thread has appended to the journal, shared with it; [`GAVE_UP`] when it
/// could not append (the journal then stops).
pub type Appended = Arc<AtomicU64>;
pub const GAVE_UP: u64 = u64::MAX;

/// The error of a wait that ended because the writer thread gave up; the writer thread's own
/// error says why (see `WriterThread::stopped_error`).
#[derive(Debug)]
pub struct WriterGaveUp;

impl std::fmt::Display for WriterGaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the journal could not be appended to")
    }
}

impl std::error::Error for WriterGaveUp {}

/// True for the error of [`WriterGaveUp`].
pub fn is_writer_gave_up(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<WriterGaveUp>())
}

pub struct Journal {
    file: File,
    /// File offset of the ring's first slot.
    ring_at: u64,
    appended: Appended,
    /// Bytes faulted in at once when a slot is mapped (about one chunk).
    populate: usize,
    /// The whole ring, mapped once: `map_len` bytes from `map`, the first slot starting
    /// `lead` bytes in (mappings start on a page).
    map: *mut u8,
    map_len: usize,
    lead: usize,
    /// The open chunk's slot.
    slot: *mut u8,
    /// Slots taken once already (their blocks reserved, their pages faulted in).
    prepared: u32,
    /// The open chunk's sequence number (its place among the capture's chunks).
    seq: u64,
    /// Payload bytes of the open chunk already copied.
    copied: usize,
    /// The open chunk outgrew its slot: it reaches the file only through the writer.
    overflowed: bool,
}

// SAFETY: the mapping is only touched under the tracker's state lock.
unsafe impl Send for Journal {}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as usize
}

impl Journal {
    /// Starts the journal in `file` (opened for reading and writing, empty): writes the capture's
    /// `header` bytes and the ring, and opens the first chunk. `chunk_size` is the size at which
    /// the tracker seals chunks.
    pub fn create(
        file: File,
        header: &[u8],
        chunk_size: usize,
        appended: Appended,
    ) -> io::Result<Journal> {
        use std::os::unix::fs::FileExt;
        file.write_all_at(header, 0)?;
        let ring = ring_header(SLOTS, STRIDE as u32).encode();
        file.write_all_at(&ring, header.len() as u64)?;
        let mut j = Journal {
            file,
            ring_at: (header.len() + ring.len()) as u64,
            appended,
            populate: (chunk_size + (64 << 10)).min(STRIDE),
            map: std::ptr::null_mut(),
            map_len: 0,
            lead: 0,
            slot: std::ptr::null_mut(),
            prepared: 0,
            seq: 0,
            copied: 0,
            overflowed: false,
        };
        j.map_ring()?;
        j.open_chunk((0, 0, 0))?;
        Ok(j)
    }

    /// Where the compressed chunks go: right after the ring.
    pub fn appends_at(&self) -> u64 {
        self.ring_at + u64::from(SLOTS) * STRIDE as u64
    }

    /// The open chunk's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Waits until the writer has appended the first `n` chunks; an error if it cannot.
    pub fn wait_appended(&self, n: u64) -> io::Result<()> {
        loop {
            match self.appended.load(Ordering::Acquire) {
                GAVE_UP => return Err(io::Error::other(WriterGaveUp)),
                done if done >= n => return Ok(()),
                _ => std::thread::sleep(Duration::from_micros(50)),
            }
        }
    }

    /// Maps the ring, once: each slot's pages are then faulted in once, and taken over and over
    /// with no more system calls (they count in the resident set: about a chunk per slot).
    fn map_ring(&mut self) -> io::Result<()> {
        let page = page_size() as u64;
        let start = self.ring_at / page * page;
        let lead = (self.ring_at - start) as usize;
        let len = lead + SLOTS as usize * STRIDE;
        // SAFETY: a shared read-write mapping of a range of our own file; only slots whose
        // blocks are reserved (`take_slot`) are ever touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                start as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.map = p.cast();
        self.map_len = len;
        self.lead = lead;
        Ok(())
    }

    /// Makes the slot of chunk `seq` the open one. The first time a slot is taken (slots are
    /// taken in order), its file blocks are reserved (touching a page the disk has no room for
    /// would fault) and about a chunk's worth of it is faulted in, writable, in one call
    /// (MADV_POPULATE_WRITE, Linux 5.14; older kernels fault as records reach the pages).
    fn take_slot(&mut self, seq: u64) -> io::Result<()> {
        let i = (seq % u64::from(SLOTS)) as usize;
        // SAFETY: slot `i` lies inside the ring's mapping.
        self.slot = unsafe { self.map.add(self.lead + i * STRIDE) };
        if i as u32 >= self.prepared {
            let from = self.ring_at + (i * STRIDE) as u64;
            // SAFETY: plain fallocate on our own descriptor.
            let r = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    0,
                    from as libc::off_t,
                    STRIDE as libc::off_t,
                )
            };
            if r != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
                    return Err(e);
                }
                // No fallocate here: writing the zeros reserves the blocks just as well (a
                // sparse slot would raise SIGBUS when the disk fills under the mapping).
                use std::os::unix::fs::FileExt;
                self.file.write_all_at(&vec![0u8; STRIDE], from)?;
            }
            let page = page_size();
            let start = self.slot as usize / page * page;
            let len = self.slot as usize + self.populate - start;
            // SAFETY: advice on pages of the ring's mapping, whose blocks are now reserved.
            unsafe { libc::madvise(start as *mut libc::c_void, len, MADV_POPULATE_WRITE) };
            self.prepared = i as u32 + 1;
        }
        Ok(())
    }

    fn unmap(&mut self) {
        if !self.map.is_null() {
            // SAFETY: unmapping exactly the ring mapped in `map_ring`.
            unsafe { libc::munmap(self.map.cast(), self.map_len) };
            self.map = std::ptr::null_mut();
        }
    }

    /// Pointer to byte `at` of the mapped slot.
    #[inline]
    fn at(&self, at: usize) -> *mut u8 {
        debug_assert!(at < STRIDE);
        // SAFETY: every caller passes an offset inside the slot (`at < STRIDE`, checked in
        // debug builds), and the slot is mapped whole, so the result stays in the mapping.
        unsafe { self.slot.add(at) }
    }

    #[inline]
    fn put_u32(&self, at: usize, v: u32) {
        // SAFETY: `at` lies in the mapped slot (4 bytes, maybe unaligned).
        unsafe { std::ptr::write_volatile(self.at(at) as *mut [u8; 4], v.to_le_bytes()) };
    }

    /// Opens chunk `self.seq` in its slot, once the writer has appended the chunk that used the
    /// slot before.
    fn open_chunk(
        &mut self,
        (code_base, node_base, native_base): (u32, u32, u32),
    ) -> io::Result<()> {
        if let Some(before) = self.seq.checked_sub(u64::from(SLOTS)) {
            self.wait_appended(before + 1)?;
        }
        self.take_slot(self.seq)?;
        let header = ChunkHeader {
            flags: FLAG_OPEN,
            code_base,
            node_base,
            native_base,
            ..ChunkHeader::default()
        }
        .encode();
        // SAFETY: the slot is mapped whole.
        unsafe {
            std::ptr::copy_nonoverlapping(header.as_ptr(), self.at(SLOT_PREFIX_LEN), header.len());
        }
        // The chunk's header first, then the number that makes readers take it.
        compiler_fence(Ordering::Release);
        // SAFETY: the slot's first 8 bytes.
        unsafe {
            std::ptr::write_volatile(self.at(0) as *mut [u8; 8], (self.seq + 1).to_le_bytes())
        };
        self.copied = 0;
        self.overflowed = false;
        Ok(())
    }

    /// Copies what `payload` (the open chunk's records so far) holds beyond what was copied,
    /// then publishes the new length: a kill at any point leaves whole records only.
    #[inline]
    pub fn commit(&mut self, payload: &[u8]) {
        let n = payload.len();
        if n <= self.copied || self.overflowed {
            return;
        }
        if n > STRIDE - SLOT_OVERHEAD {
            // Left as far as it fits; the tracker seals it and waits for the writer.
            self.overflowed = true;
            return;
        }
        let new = &payload[self.copied..];
        let to = self.at(SLOT_OVERHEAD + self.copied);
        // SAFETY: the destination lies in the mapped slot (checked against its size above).
        unsafe { copy_small(new, to) };
        // The records first, then the length that makes them count.
        compiler_fence(Ordering::Release);
        self.put_u32(SLOT_PREFIX_LEN + STORED_LEN_AT, n as u32);
        self.copied = n;
    }

    /// True when the open chunk outgrew its slot (see [`Self::commit`]).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Seals the open chunk, whose whole payload is `payload` with `n_events` events, and opens
    /// the next one with the definition counts `next_bases`. Call [`Self::commit`] first.
    pub fn seal(
        &mut self,
        payload: &[u8],
        n_events: u32,
        next_bases: (u32, u32, u32),
    ) -> io::Result<()> {
        if !self.overflowed {
            let h = SLOT_PREFIX_LEN;
            let n = payload.len() as u32;
            // Everything a sealed chunk needs, and only then the flags that make it one (until
            // that single byte changes, readers keep taking it as open).
            self.put_u32(h + RAW_LEN_AT, n);
            self.put_u32(h + N_EVENTS_AT, n_events);
            self.put_u32(h + CRC_AT, crc32fast::hash(payload));
            compiler_fence(Ordering::Release);
            // SAFETY: the flags byte of the mapped header.
            unsafe { std::ptr::write_volatile(self.at(h + FLAGS_AT), 0) };
        }
        self.seq += 1;
        self.open_chunk(next_bases)
    }
}

/// Copies `src` to `dst`; records are mostly a few bytes, for which a call to `memcpy` would
/// cost more than the copy: up to 32 bytes take two loads and two stores, overlapping.
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes of writes and not overlap `src`.
#[inline(always)]
unsafe fn copy_small(src: &[u8], dst: *mut u8) {
    /// Copies `n` bytes (`size_of::<T>() <= n <= 2 * size_of::<T>()`) as two `T`s, the first
    /// at the start and the second at the end (overlapping in the middle).
    ///
    /// # Safety
    /// `s` readable and `d` writable for `n` bytes, not overlapping.
    #[inline(always)]
    unsafe fn two<T: Copy>(s: *const u8, d: *mut u8, n: usize) {
        let k = std::mem::size_of::<T>();
        // SAFETY: `k <= n`, so both `T`s, at 0 and at `n - k`, lie within the `n` bytes the
        // caller vouches for; unaligned accesses are used throughout.
        unsafe {
            let a = std::ptr::read_unaligned(s as *const T);
            let b = std::ptr::read_unaligned(s.add(n - k) as *const T);
            std::ptr::write_unaligned(d as *mut T, a);
            std::ptr::write_unaligned(d.add(n - k) as *mut T, b);
        }
    }
    let (n, s) = (src.len(), src.as_ptr());
    // SAFETY: `s` is readable for `n` bytes (it is `src`) and `dst` writable for `n` bytes, not
    // overlapping it (the caller's contract); every access below is at an offset below `n`,
    // and each `two::<T>` gets an `n` between `size_of::<T>()` and twice that.
    unsafe {
        match n {
            0 => {}
            1..=3 => {
                *dst = *s;
                *dst.add(n / 2) = *s.add(n / 2);
                *dst.add(n - 1) = *s.add(n - 1);
            }
            4..=8 => two::<u32>(s, dst, n),
            9..=16 => two::<u64>(s, dst, n),
            17..=32 => two::<u128>(s, dst, n),
            _ => std::ptr::copy_nonoverlapping(s, dst, n),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.unmap();
    }
}

#[cfg(test)]
mod tests {
    use super::copy_small;

    #[test]
    fn copy_small_copies_every_length_exactly() {
        for n in 0..80 {
            let src: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
            let mut dst = vec![0xeeu8; n + 8];
            // SAFETY: dst holds n + 8 bytes.
            unsafe { copy_small(&src, dst.as_mut_ptr().add(4)) };
            assert_eq!(&dst[4..4 + n], &src[..], "length {n}");
            assert!(
                dst[..4].iter().chain(&dst[4 + n..]).all(|&b| b == 0xee),
                "length {n}"
            );
        }
    }
}
