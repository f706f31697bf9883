//! Native stacks for `--native`: unwinding the calling thread with libunwind (csrc/unwind.c),
//! dropping the tracker's own frames, and listing the loaded objects (path, load address,
//! segments, build id) that reports symbolise the addresses with.

use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

use libc::{dl_phdr_info, size_t};
use memray_format::records::ImageMap;

extern "C" {
    fn memray_unwind_init();
    fn memray_backtrace(ips: *mut *mut c_void, max: c_int) -> c_int;
    fn memray_unwind_flush();
}

/// True while native stacks are recorded.
pub static NATIVE: AtomicBool = AtomicBool::new(false);
/// The executable segment of this library: return addresses inside it are the tracker's own.
static OWN_START: AtomicUsize = AtomicUsize::new(0);
static OWN_END: AtomicUsize = AtomicUsize::new(0);
/// Deepest native stack recorded (Memray keeps a little over 2,048 frames); a deeper stack keeps
/// its innermost frames.
pub const MAX_DEPTH: usize = 65_536;

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const PF_X: u32 = 1;
const NT_GNU_BUILD_ID: u32 = 3;

/// Prepares unwinding: per-thread caches, and where the tracker's own code lies.
pub fn init() {
    // SAFETY: sets a libunwind policy; no other thread unwinds yet.
    unsafe { memray_unwind_init() };
    let own = init as *const () as usize;
    for img in loaded_images() {
        for &(vaddr, size) in &img.segments {
            let start = img.load_address as usize + vaddr as usize;
            if (start..start + size as usize).contains(&own) {
                OWN_START.store(start, Relaxed);
                OWN_END.store(start + size as usize, Relaxed);
            }
        }
    }
}

/// Drops cached unwind tables (a library was unloaded: its addresses may be reused).
pub fn flush() {
    // SAFETY: libunwind's cache flush for the local address space.
    unsafe { memray_unwind_flush() };
}

/// Fills `ips` with the calling thread's return addresses, innermost first, starting at the
/// caller of the allocator (the tracker's own frames are left out); returns how many.
#[inline]
pub fn unwind(ips: &mut Vec<usize>) -> usize {
    let n = loop {
        let cap = ips.len();
        // SAFETY: `ips` holds `cap` writable words.
        let n = unsafe { memray_backtrace(ips.as_mut_ptr().cast(), cap as c_int) };
        let n = n.max(0) as usize;
        if n < cap || cap >= MAX_DEPTH {
            break n;
        }
        ips.resize(cap * 2, 0);
    };
    let (start, end) = (OWN_START.load(Relaxed), OWN_END.load(Relaxed));
    let own = ips[..n]
        .iter()
        .take_while(|&&ip| ip >= start && ip < end)
        .count();
    ips.copy_within(own..n, 0);
    n - own
}

/// Every object loaded in the process now: the executable, shared libraries and the vDSO.
pub fn loaded_images() -> Vec<ImageMap> {
    let mut out: Vec<ImageMap> = Vec::new();
    // SAFETY: the callback only reads the loader's descriptions during the call.
    unsafe { libc::dl_iterate_phdr(Some(collect), (&mut out as *mut Vec<ImageMap>).cast()) };
    out
}

unsafe extern "C" fn collect(info: *mut dl_phdr_info, _size: size_t, data: *mut c_void) -> c_int {
    // SAFETY: the loader passes a valid description; `data` is the Vec given above.
    let (info, out) = unsafe { (&*info, &mut *(data as *mut Vec<ImageMap>)) };
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: the loader's names are NUL-terminated.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };
    let path = if name.is_empty() && out.is_empty() {
        // The first object is the executable, which the loader leaves unnamed.
        std::fs::read_link("/proc/self/exe")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        name
    };
    if path.is_empty() {
        return 0;
    }
    let base = info.dlpi_addr;
    let mut segments = Vec::new();
    let mut build_id = Vec::new();
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: dlpi_phdr points at dlpi_phnum headers.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        if ph.p_type == PT_LOAD && ph.p_flags & PF_X != 0 {
            segments.push((ph.p_vaddr, ph.p_memsz));
        } else if ph.p_type == PT_NOTE && build_id.is_empty() {
            let start = (base + ph.p_vaddr) as *const u8;
            // SAFETY: a loaded note segment is mapped and readable for p_memsz bytes.
            let notes = unsafe { std::slice::from_raw_parts(start, ph.p_memsz as usize) };
            build_id = find_build_id(notes);
        }
    }
    if !segments.is_empty() {
        out.push(ImageMap {
            path,
            load_address: base,
            segments,
            build_id,
        });
    }
    0
}

/// The GNU build id among ELF notes (`namesz`, `descsz`, `type`, name and descriptor, each
/// padded to 4 bytes).
fn find_build_id(mut notes: &[u8]) -> Vec<u8> {
    let word = |b: &[u8], at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap());
    let pad = |n: usize| (n + 3) & !3;
    while notes.len() >= 12 {
        let (namesz, descsz, kind) = (
            word(notes, 0) as usize,
            word(notes, 4) as usize,
            word(notes, 8),
        );
        let desc_at = 12 + pad(namesz);
        let end = desc_at + pad(descsz);
        if desc_at + descsz > notes.len() {
            break;
        }
        if kind == NT_GNU_BUILD_ID && &notes[12..12 + namesz.min(4)] == b"GNU\0" {
            return notes[desc_at..desc_at + descsz].to_vec();
        }
        notes = &notes[end.min(notes.len())..];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_build_id_note() {
        let mut notes = Vec::new();
        // An ABI tag note first, then the build id.
        for (kind, name, desc) in [
            (1u32, &b"GNU\0"[..], &[0u8, 0, 0, 0, 3, 0, 0, 0][..]),
            (3u32, &b"GNU\0"[..], &[0xab, 0xcd, 0xef][..]),
        ] {
            notes.extend((name.len() as u32).to_ne_bytes());
            notes.extend((desc.len() as u32).to_ne_bytes());
            notes.extend(kind.to_ne_bytes());
            notes.extend(name);
            notes.extend(desc);
            while notes.len() % 4 != 0 {
                notes.push(0);
            }
        }
        assert_eq!(find_build_id(&notes), vec![0xab, 0xcd, 0xef]);
        assert!(find_build_id(&notes[..20]).is_empty());
    }

    #[test]
    fn lists_this_process_with_build_ids() {
        let images = loaded_images();
        assert!(images.iter().any(|i| i.path.contains("libc.so")));
        let own = find_build_id as *const () as u64;
        assert!(images.iter().any(|i| i
            .segments
            .iter()
            .any(|&(v, s)| (i.load_address + v..i.load_address + v + s).contains(&own))));
    }
}
