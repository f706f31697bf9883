//! The capture file as a journal while tracking: every record is copied into a shared mapping
//! of the file the moment it is encoded, so it is in the kernel's hands at once and a process
//! that is killed (SIGKILL, a signal's default action, a crash, a `with Pool` block terminating
//! its workers) loses nothing it recorded. The file is laid out as a capture from the start: the
//! header, the sealed chunks stored raw, then one *open* chunk (`FLAG_OPEN`) whose stored length
//! grows with each committed record. The compressed capture is written meanwhile to a file of its
//! own (see `tracker::open_sink`), which replaces this one when tracking finishes.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{compiler_fence, Ordering};

use memray_format::chunk::{ChunkHeader, CHUNK_HEADER_LEN, FLAG_OPEN};

/// How much of the file is mapped at a time (a chunk is about 1 MiB): small, as the pages
/// touched count in the tracked process's resident set until the window moves on.
const WINDOW: usize = 4 << 20;
const MADV_POPULATE_WRITE: libc::c_int = 23;
/// Offsets of the chunk header's fields.
const FLAGS_AT: usize = 4;
const STORED_LEN_AT: usize = 8;
const CRC_AT: usize = 32;

pub struct Journal {
    file: File,
    /// The mapped window: `len` bytes of the file from offset `start` (page-aligned).
    map: *mut u8,
    start: u64,
    len: usize,
    /// File offset of the open chunk's header.
    chunk: u64,
    /// Payload bytes of the open chunk already copied.
    copied: usize,
}

// SAFETY: the mapping is only touched under the tracker's state lock.
unsafe impl Send for Journal {}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as u64
}

impl Journal {
    /// Starts the journal in `file` (opened for reading and writing, empty): writes the capture's
    /// `header` bytes and opens the first chunk.
    pub fn create(file: File, header: &[u8]) -> io::Result<Journal> {
        use std::os::unix::fs::FileExt;
        file.write_all_at(header, 0)?;
        let mut j = Journal {
            file,
            map: std::ptr::null_mut(),
            start: 0,
            len: 0,
            chunk: header.len() as u64,
            copied: 0,
        };
        j.open_chunk((0, 0, 0))?;
        Ok(j)
    }

    /// Makes the file bytes `[self.chunk, end)` mapped.
    fn ensure(&mut self, end: u64) -> io::Result<()> {
        if !self.map.is_null() && self.chunk >= self.start && end <= self.start + self.len as u64 {
            return Ok(());
        }
        let page = page_size();
        let start = self.chunk / page * page;
        let len = (end - start).max(WINDOW as u64).div_ceil(page) * page;
        // The file must cover the mapping with blocks reserved: touching a page beyond its end,
        // or one the disk has no room for, would fault.
        let size = self.file.metadata()?.len();
        if size < start + len {
            // SAFETY: plain fallocate on our own descriptor.
            let r = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    0,
                    size as libc::off_t,
                    (start + len - size) as libc::off_t,
                )
            };
            if r != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
                    return Err(e);
                }
                self.file.set_len(start + len)?;
            }
        }
        // SAFETY: a shared read-write mapping of a range of our own file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                start as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Fault the whole window in, writable, in one call rather than a fault per page as
        // records reach it (MADV_POPULATE_WRITE, Linux 5.14; older kernels fault as they go).
        // SAFETY: advice on the mapping just made.
        unsafe { libc::madvise(p, len as usize, MADV_POPULATE_WRITE) };
        self.unmap();
        self.map = p.cast();
        self.start = start;
        self.len = len as usize;
        Ok(())
    }

    fn unmap(&mut self) {
        if !self.map.is_null() {
            // SAFETY: unmapping exactly the window mapped in `ensure`.
            unsafe { libc::munmap(self.map.cast(), self.len) };
            self.map = std::ptr::null_mut();
        }
    }

    /// Pointer to file offset `at`, which `ensure` made mapped.
    #[inline]
    fn at(&self, at: u64) -> *mut u8 {
        // SAFETY (for callers): `at` lies inside the window.
        unsafe { self.map.add((at - self.start) as usize) }
    }

    /// Writes the header of a new open chunk at `self.chunk`.
    fn open_chunk(
        &mut self,
        (code_base, node_base, native_base): (u32, u32, u32),
    ) -> io::Result<()> {
        self.ensure(self.chunk + CHUNK_HEADER_LEN as u64)?;
        let header = ChunkHeader {
            flags: FLAG_OPEN,
            code_base,
            node_base,
            native_base,
            ..ChunkHeader::default()
        }
        .encode();
        // SAFETY: the header's bytes are mapped (ensured above).
        unsafe {
            std::ptr::copy_nonoverlapping(header.as_ptr(), self.at(self.chunk), header.len());
        }
        self.copied = 0;
        Ok(())
    }

    /// Copies what `payload` (the open chunk's records so far) holds beyond what was copied,
    /// then publishes the new length: a kill at any point leaves whole records only.
    #[inline]
    pub fn commit(&mut self, payload: &[u8]) -> io::Result<()> {
        let n = payload.len();
        if n <= self.copied {
            return Ok(());
        }
        let body = self.chunk + CHUNK_HEADER_LEN as u64;
        self.ensure(body + n as u64)?;
        // SAFETY: [body, body + n) is mapped; the source is the encoder's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                payload.as_ptr().add(self.copied),
                self.at(body + self.copied as u64),
                n - self.copied,
            );
        }
        // The records first, then the length that makes them count.
        compiler_fence(Ordering::Release);
        self.put_u32(self.chunk + STORED_LEN_AT as u64, n as u32);
        self.copied = n;
        Ok(())
    }

    #[inline]
    fn put_u32(&self, at: u64, v: u32) {
        // SAFETY: `at` lies in the mapped chunk header (4 bytes, maybe unaligned).
        unsafe { std::ptr::write_volatile(self.at(at) as *mut [u8; 4], v.to_le_bytes()) };
    }

    /// Seals the open chunk, whose whole payload is `payload` with `n_events` events, and opens
    /// the next one with the definition counts `next_bases`.
    pub fn seal(
        &mut self,
        payload: &[u8],
        n_events: u32,
        next_bases: (u32, u32, u32),
    ) -> io::Result<()> {
        self.commit(payload)?;
        let n = payload.len() as u32;
        let h = self.chunk;
        // Everything a sealed chunk needs, and only then the flags that make it one (until that
        // single byte changes, readers keep taking it as open).
        self.put_u32(h + 12, n); // raw_len
        self.put_u32(h + 16, n_events);
        self.put_u32(h + CRC_AT as u64, crc32fast::hash(payload));
        compiler_fence(Ordering::Release);
        // SAFETY: the flags byte of the mapped header.
        unsafe { std::ptr::write_volatile(self.at(h + FLAGS_AT as u64), 0) };
        self.chunk += (CHUNK_HEADER_LEN + payload.len()) as u64;
        self.open_chunk(next_bases)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.unmap();
    }
}
