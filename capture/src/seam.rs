//! Safe wrappers over the interpreter-version seam (`csrc/common.c` and the frame-reading module
//! of the interpreter's version family, `csrc/frames_py*.c`, chosen by `build.rs`): the
//! thread-local re-entrancy guard and thread words, reading the calling thread's Python frames,
//! and learning of dead code objects.

use std::ffi::c_void;

extern "C" {
    fn memray_guard_enter() -> i32;
    fn memray_guard_exit();
    fn memray_tls_tid() -> u32;
    fn memray_set_tls_tid(tid: u32);
    fn memray_tls_state() -> *mut c_void;
    fn memray_set_tls_state(p: *mut c_void);
    fn memray_py_stack(codes: *mut *mut c_void, words: *mut i32, max: i32, entries: i32) -> i32;
    fn memray_code_line(code: *mut c_void, lasti: i32) -> i32;
    fn memray_watch_code_deaths(cb: extern "C" fn(*mut c_void));
    fn memray_unwatch_code_deaths();
    fn memray_str_data(obj: *mut c_void, kind: *mut i32, len: *mut isize) -> *const c_void;
    fn memray_code_name(code: *mut c_void) -> *mut c_void;
    fn memray_code_filename(code: *mut c_void) -> *mut c_void;
    fn memray_code_firstlineno(code: *mut c_void) -> i32;
    fn memray_allocator_name() -> *const std::ffi::c_char;
    fn memray_built_for() -> *const std::ffi::c_char;
    fn memray_version_matches() -> i32;
}

/// None when the running interpreter is the version the seam was compiled for; else the
/// "major.minor" it was compiled for.
pub fn version_mismatch() -> Option<String> {
    // SAFETY: both read static data only.
    unsafe {
        if memray_version_matches() != 0 {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(memray_built_for())
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Held while the tracker works on this thread; allocations made meanwhile are not recorded.
pub struct Guard(());

impl Guard {
    /// None when this thread is already inside the tracker.
    #[inline]
    pub fn enter() -> Option<Guard> {
        // SAFETY: reads and writes this thread's initial-exec TLS word only.
        // (Not `then_some`: that would build a Guard eagerly and, dropping it, release the
        // guard this thread already holds.)
        if unsafe { memray_guard_enter() } != 0 {
            Some(Guard(()))
        } else {
            None
        }
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { memray_guard_exit() }
    }
}

#[inline]
pub fn tls_tid() -> u32 {
    // SAFETY: thread-local word.
    unsafe { memray_tls_tid() }
}

#[inline]
pub fn set_tls_tid(tid: u32) {
    // SAFETY: thread-local word.
    unsafe { memray_set_tls_tid(tid) }
}

#[inline]
pub fn tls_state() -> *mut c_void {
    // SAFETY: thread-local word.
    unsafe { memray_tls_state() }
}

#[inline]
pub fn set_tls_state(p: *mut c_void) {
    // SAFETY: thread-local word.
    unsafe { memray_set_tls_state(p) }
}

/// Fills `codes`/`words` with the calling thread's frames, innermost first; returns the
/// stack's depth, which is more than the buffers hold when they were too small. A word is
/// `last instruction index << 1 | entry`, where `entry` is the frame's real entry-frame flag
/// when `entries` is set (native stacks need it to be merged), else always 1.
#[inline]
pub fn python_stack(codes: &mut [*mut c_void], words: &mut [i32], entries: bool) -> usize {
    let max = codes.len().min(words.len()) as i32;
    // SAFETY: the buffers hold `max` entries; the walk only reads this thread's own frames.
    unsafe {
        memray_py_stack(
            codes.as_mut_ptr(),
            words.as_mut_ptr(),
            max,
            i32::from(entries),
        ) as usize
    }
}

/// The line of `code` at instruction index `lasti`. `code` must be a live code object.
pub fn code_line(code: *mut c_void, lasti: i32) -> u32 {
    // SAFETY: the caller passes a code object from a frame that is still on the stack.
    unsafe { memray_code_line(code, lasti) }.max(0) as u32
}

/// Calls `cb` with every code object about to be freed, until [`unwatch_code_deaths`].
/// Must be called with the GIL held.
pub fn watch_code_deaths(cb: extern "C" fn(*mut c_void)) {
    // SAFETY: swaps a slot of the code type under the GIL.
    unsafe { memray_watch_code_deaths(cb) }
}

/// Must be called with the GIL held.
pub fn unwatch_code_deaths() {
    // SAFETY: as above.
    unsafe { memray_unwatch_code_deaths() }
}

/// Copies a str object's text into UTF-8 without calling into the interpreter.
fn str_to_string(obj: *mut c_void) -> String {
    let (mut kind, mut len) = (0i32, 0isize);
    // SAFETY: `obj` is kept alive by a live code object; the data pointer is valid for `len`
    // characters of width `kind`.
    unsafe {
        let data = memray_str_data(obj, &mut kind, &mut len);
        if data.is_null() || len <= 0 {
            return String::new();
        }
        let len = len as usize;
        match kind {
            1 => std::slice::from_raw_parts(data as *const u8, len)
                .iter()
                .map(|&b| char::from(b))
                .collect(),
            2 => char::decode_utf16(
                std::slice::from_raw_parts(data as *const u16, len)
                    .iter()
                    .copied(),
            )
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
            4 => std::slice::from_raw_parts(data as *const u32, len)
                .iter()
                .map(|&c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
            _ => String::new(),
        }
    }
}

/// (function name, file name, first line) of a live code object.
pub fn code_info(code: *mut c_void) -> (String, String, u32) {
    // SAFETY: `code` is a live code object.
    unsafe {
        (
            str_to_string(memray_code_name(code)),
            str_to_string(memray_code_filename(code)),
            memray_code_firstlineno(code).max(0) as u32,
        )
    }
}

/// Memray's name for the interpreter's allocator (`pymalloc`, `pymalloc debug`, `malloc`, …).
pub fn python_allocator() -> String {
    // SAFETY: returns a static string or NULL.
    let p = unsafe { memray_allocator_name() };
    let name = if p.is_null() {
        String::new()
    } else {
        // SAFETY: NUL-terminated static string.
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    };
    match name.as_str() {
        "pymalloc" => "pymalloc",
        "pymalloc_debug" => "pymalloc debug",
        "mimalloc" => "mimalloc",
        "mimalloc_debug" => "mimalloc debug",
        "malloc" => "malloc",
        _ => "unknown",
    }
    .to_string()
}
