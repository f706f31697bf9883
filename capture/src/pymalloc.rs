//! `trace_python_allocators`: wraps the interpreter's three allocator domains (raw, mem, object)
//! so every Python allocation is recorded as `PYMALLOC_*`. What the wrapped allocator does
//! underneath (arena `mmap`s, raw `malloc`s) runs under the guard and is not recorded twice.

use std::ffi::c_void;

use memray_format::records::AllocatorType as A;

use crate::seam::Guard;
use crate::tracker::{record_allocation, record_deallocation};

#[repr(C)]
#[derive(Clone, Copy)]
struct PyMemAllocatorEx {
    ctx: *mut c_void,
    malloc: Option<extern "C" fn(*mut c_void, usize) -> *mut c_void>,
    calloc: Option<extern "C" fn(*mut c_void, usize, usize) -> *mut c_void>,
    realloc: Option<extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void>,
    free: Option<extern "C" fn(*mut c_void, *mut c_void)>,
}

extern "C" {
    fn PyMem_GetAllocator(domain: i32, out: *mut PyMemAllocatorEx);
    fn PyMem_SetAllocator(domain: i32, a: *mut PyMemAllocatorEx);
}

const DOMAINS: [i32; 3] = [0, 1, 2]; // RAW, MEM, OBJ

static mut ORIGINAL: [PyMemAllocatorEx; 3] = [PyMemAllocatorEx {
    ctx: std::ptr::null_mut(),
    malloc: None,
    calloc: None,
    realloc: None,
    free: None,
}; 3];
static mut INSTALLED: bool = false;

fn orig(ctx: *mut c_void) -> &'static PyMemAllocatorEx {
    // SAFETY: ctx is the address of one of ORIGINAL's entries, set in `install`.
    unsafe { &*(ctx as *const PyMemAllocatorEx) }
}

/// Runs `f` with the guard held, so allocations it makes underneath are not recorded.
fn quiet<T>(f: impl FnOnce() -> T) -> T {
    let _g = Guard::enter();
    f()
}

extern "C" fn py_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let o = orig(ctx);
    let p = quiet(|| o.malloc.map_or(std::ptr::null_mut(), |f| f(o.ctx, size)));
    if !p.is_null() {
        record_allocation(p as usize, size, A::PymallocMalloc);
    }
    p
}

extern "C" fn py_calloc(ctx: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let o = orig(ctx);
    let p = quiet(|| o.calloc.map_or(std::ptr::null_mut(), |f| f(o.ctx, n, size)));
    if !p.is_null() {
        record_allocation(p as usize, n.wrapping_mul(size), A::PymallocCalloc);
    }
    p
}

extern "C" fn py_realloc(ctx: *mut c_void, old: *mut c_void, size: usize) -> *mut c_void {
    let o = orig(ctx);
    let p = quiet(|| {
        o.realloc
            .map_or(std::ptr::null_mut(), |f| f(o.ctx, old, size))
    });
    if !p.is_null() {
        if !old.is_null() {
            record_deallocation(old as usize, 0, A::PymallocFree);
        }
        record_allocation(p as usize, size, A::PymallocRealloc);
    }
    p
}

extern "C" fn py_free(ctx: *mut c_void, p: *mut c_void) {
    let o = orig(ctx);
    if !p.is_null() {
        record_deallocation(p as usize, 0, A::PymallocFree);
    }
    quiet(|| {
        if let Some(f) = o.free {
            f(o.ctx, p)
        }
    })
}

/// Wraps the three domains. Must be called with the GIL held.
pub fn install() {
    // SAFETY: called with the GIL held, which serializes every access to ORIGINAL/INSTALLED.
    unsafe {
        if INSTALLED {
            return;
        }
        for (i, &d) in DOMAINS.iter().enumerate() {
            let slot = std::ptr::addr_of_mut!(ORIGINAL[i]);
            PyMem_GetAllocator(d, slot);
            let mut ours = PyMemAllocatorEx {
                ctx: slot as *mut c_void,
                malloc: Some(py_malloc),
                calloc: Some(py_calloc),
                realloc: Some(py_realloc),
                free: Some(py_free),
            };
            PyMem_SetAllocator(d, &mut ours);
        }
        INSTALLED = true;
    }
}

/// Puts the original allocators back. Must be called with the GIL held.
pub fn uninstall() {
    // SAFETY: as in `install`.
    unsafe {
        if !INSTALLED {
            return;
        }
        for (i, &d) in DOMAINS.iter().enumerate() {
            let mut a = ORIGINAL[i];
            PyMem_SetAllocator(d, &mut a);
        }
        INSTALLED = false;
    }
}
