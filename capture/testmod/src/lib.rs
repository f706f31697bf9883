//! `memray._test_utils`: the native half of `memray._test`, helpers that allocate memory in known
//! amounts with known allocators, for tests of the tracker and of code built on it (Memray 1.20's
//! helpers of the same names and behaviour).
//!
//! This is a separate extension module on purpose: the tracker leaves its own shared object
//! alone, and every call below to `malloc` & co. goes through this object's GOT like any other
//! extension's, so the tracker records it.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

extern "C" {
    // Not declared by the libc crate for glibc.
    fn valloc(size: usize) -> *mut c_void;
    fn pvalloc(size: usize) -> *mut c_void;
}

/// A size argument as Memray's helpers take one (a C `size_t`): any integer, or any number
/// with `__int__` (a float is truncated); a negative one is an OverflowError.
struct Size(usize);

impl<'a, 'py> FromPyObject<'a, 'py> for Size {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let int = if obj.is_instance_of::<pyo3::types::PyInt>() {
            obj.to_owned()
        } else if obj.hasattr("__int__")? {
            obj.call_method0("__int__")?
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "an integer is required, not {}",
                obj.get_type().name()?
            )));
        };
        if int.lt(0)? {
            return Err(pyo3::exceptions::PyOverflowError::new_err(
                "can't convert negative value to size_t",
            ));
        }
        Ok(Size(int.extract::<usize>()?))
    }
}

/// Keeps a pointer from being optimised away.
#[inline(never)]
fn keep(p: *mut c_void) -> *mut c_void {
    std::hint::black_box(p)
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

const ALIGNMENT: usize = std::mem::size_of::<*mut c_void>();

/// One block at a time from the C allocator: each method allocates a new block (forgetting the
/// previous one) and returns whether it succeeded; `free` releases the current block.
/// (Frozen, with the pointer in an atomic: a callback run by `run_in_pthread` may use the
/// same allocator while that call is in progress.)
#[pyclass(module = "memray._test_utils", frozen)]
struct MemoryAllocator {
    ptr: AtomicUsize,
}

impl MemoryAllocator {
    fn set(&self, p: *mut c_void) -> bool {
        self.ptr.store(keep(p) as usize, Relaxed);
        !p.is_null()
    }

    fn current(&self) -> PyResult<*mut c_void> {
        match self.ptr.load(Relaxed) {
            0 => Err(PyRuntimeError::new_err("Pointer cannot be NULL")),
            p => Ok(p as *mut c_void),
        }
    }

    fn clear(&self) {
        self.ptr.store(0, Relaxed);
    }
}

/// A C23 deallocator, if this C library has it.
fn c23(name: &[u8]) -> usize {
    // SAFETY: dlsym with a NUL-terminated name.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr() as *const c_char) as usize }
}

#[pymethods]
impl MemoryAllocator {
    #[new]
    fn new() -> Self {
        MemoryAllocator {
            ptr: AtomicUsize::new(0),
        }
    }

    fn free(&self) -> PyResult<()> {
        let p = self.current()?;
        // SAFETY: `p` came from the C allocator and was not freed yet.
        unsafe { libc::free(p) };
        self.clear();
        Ok(())
    }

    /// `free_sized(ptr, size)` where the C library has it (C23); returns False otherwise.
    fn free_sized(&self, size: Size) -> PyResult<bool> {
        let size = size.0;
        let p = self.current()?;
        let f = c23(b"free_sized\0");
        if f == 0 {
            return Ok(false);
        }
        // SAFETY: the symbol has C23's signature.
        let f: extern "C" fn(*mut c_void, usize) = unsafe { std::mem::transmute(f) };
        f(p, size);
        self.clear();
        Ok(true)
    }

    /// `free_aligned_sized(ptr, alignment, size)` where the C library has it (C23).
    fn free_aligned_sized(&self, size: Size) -> PyResult<bool> {
        let size = size.0;
        let p = self.current()?;
        let f = c23(b"free_aligned_sized\0");
        if f == 0 {
            return Ok(false);
        }
        // SAFETY: the symbol has C23's signature.
        let f: extern "C" fn(*mut c_void, usize, usize) = unsafe { std::mem::transmute(f) };
        f(p, ALIGNMENT, size);
        self.clear();
        Ok(true)
    }

    fn malloc(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: plain C allocation.
        self.set(unsafe { libc::malloc(size) })
    }

    fn calloc(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: plain C allocation.
        self.set(unsafe { libc::calloc(1, size) })
    }

    /// `malloc(1)`, then `realloc` of that block to `size`.
    fn realloc(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: plain C allocation, then a realloc of the block just allocated.
        unsafe {
            let p = keep(libc::malloc(1));
            self.set(libc::realloc(p, size))
        }
    }

    fn posix_memalign(&self, size: Size) -> bool {
        let size = size.0;
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: `p` is a valid out-pointer; the alignment is a power of two multiple of
        // sizeof(void*).
        let rc = unsafe { libc::posix_memalign(&mut p, ALIGNMENT, size) };
        let ok = self.set(p);
        rc == 0 && ok
    }

    fn aligned_alloc(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: plain C allocation.
        self.set(unsafe { libc::aligned_alloc(ALIGNMENT, size) })
    }

    fn memalign(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: plain C allocation.
        self.set(unsafe { libc::memalign(ALIGNMENT, size) })
    }

    fn valloc(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: plain C allocation.
        self.set(unsafe { valloc(size) })
    }

    fn pvalloc(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: plain C allocation.
        self.set(unsafe { pvalloc(size) })
    }

    /// Calls `callback` on a new native thread (created with `pthread_create`, entering Python
    /// through `PyGILState_Ensure`) and waits for it, with the GIL released meanwhile.
    fn run_in_pthread(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        extern "C" fn worker(arg: *mut c_void) -> *mut c_void {
            // SAFETY: `arg` is the `Py<PyAny>` leaked by the caller, which waits for us.
            let callback = unsafe { &*(arg as *const Py<PyAny>) };
            Python::attach(|py| {
                if let Err(e) = callback.call0(py) {
                    e.write_unraisable(py, None);
                }
            });
            std::ptr::null_mut()
        }
        let boxed = Box::into_raw(Box::new(callback));
        let mut thread: libc::pthread_t = 0;
        // SAFETY: `worker` has the pthread start signature; `boxed` outlives the thread.
        let rc = unsafe {
            libc::pthread_create(&mut thread, std::ptr::null(), worker, boxed as *mut c_void)
        };
        if rc != 0 {
            // SAFETY: the thread was not started; we still own the box.
            drop(unsafe { Box::from_raw(boxed) });
            return Err(PyRuntimeError::new_err("Failed to create thread"));
        }
        let thread_id = thread as usize;
        py.detach(move || {
            // SAFETY: joining the thread created above, once.
            unsafe { libc::pthread_join(thread_id as libc::pthread_t, std::ptr::null_mut()) };
        });
        // SAFETY: the thread has finished with it.
        drop(unsafe { Box::from_raw(boxed) });
        Ok(())
    }
}

const PYMALLOC_RAW: i64 = 1;
const PYMALLOC_MEM: i64 = 2;
const PYMALLOC_OBJECT: i64 = 3;

/// One block at a time from one of the Python allocator domains (`PymallocDomain`).
#[pyclass(module = "memray._test_utils", frozen)]
struct PymallocMemoryAllocator {
    ptr: AtomicUsize,
    domain: i64,
}

#[pymethods]
impl PymallocMemoryAllocator {
    #[new]
    fn new(domain: i64) -> PyResult<Self> {
        if !(PYMALLOC_RAW..=PYMALLOC_OBJECT).contains(&domain) {
            return Err(PyValueError::new_err(format!(
                "{domain} is not a valid PymallocDomain"
            )));
        }
        Ok(PymallocMemoryAllocator {
            ptr: AtomicUsize::new(0),
            domain,
        })
    }

    fn free(&self) -> PyResult<()> {
        if self.ptr.load(Relaxed) == 0 {
            return Err(PyRuntimeError::new_err("Pointer cannot be NULL"));
        }
        let p = self.ptr.load(Relaxed) as *mut c_void;
        // SAFETY: `p` came from this domain's allocator; the GIL is held.
        unsafe {
            match self.domain {
                PYMALLOC_RAW => pyo3::ffi::PyMem_RawFree(p),
                PYMALLOC_MEM => pyo3::ffi::PyMem_Free(p),
                _ => pyo3::ffi::PyObject_Free(p),
            }
        }
        self.ptr.store(0, Relaxed);
        Ok(())
    }

    fn malloc(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: the GIL is held.
        let p = unsafe {
            match self.domain {
                PYMALLOC_RAW => pyo3::ffi::PyMem_RawMalloc(size),
                PYMALLOC_MEM => pyo3::ffi::PyMem_Malloc(size),
                _ => pyo3::ffi::PyObject_Malloc(size),
            }
        };
        self.ptr.store(keep(p) as usize, Relaxed);
        !p.is_null()
    }

    fn calloc(&self, size: Size) -> bool {
        let size = size.0;
        // SAFETY: the GIL is held.
        let p = unsafe {
            match self.domain {
                PYMALLOC_RAW => pyo3::ffi::PyMem_RawCalloc(1, size),
                PYMALLOC_MEM => pyo3::ffi::PyMem_Calloc(1, size),
                _ => pyo3::ffi::PyObject_Calloc(1, size),
            }
        };
        self.ptr.store(keep(p) as usize, Relaxed);
        !p.is_null()
    }

    /// Reallocates the current block (or allocates one, when there is none) to `size`.
    fn realloc(&self, size: Size) -> bool {
        let size = size.0;
        let old = self.ptr.load(Relaxed) as *mut c_void;
        // SAFETY: `old` is null or came from this domain's allocator; the GIL is held.
        let p = unsafe {
            match self.domain {
                PYMALLOC_RAW => pyo3::ffi::PyMem_RawRealloc(old, size),
                PYMALLOC_MEM => pyo3::ffi::PyMem_Realloc(old, size),
                _ => pyo3::ffi::PyObject_Realloc(old, size),
            }
        };
        self.ptr.store(keep(p) as usize, Relaxed);
        !p.is_null()
    }
}

/// A shared anonymous mapping of `size` bytes (at `address` if given, as a hint).
#[pyclass(module = "memray._test_utils", frozen)]
struct MmapAllocator {
    address: usize,
}

#[pymethods]
impl MmapAllocator {
    #[new]
    #[pyo3(signature = (size, address=0))]
    fn new(size: Size, address: usize) -> PyResult<Self> {
        let size = size.0;
        // SAFETY: an anonymous mapping; nothing is overwritten without MAP_FIXED.
        let p = unsafe {
            libc::mmap(
                address as *mut c_void,
                size,
                libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(PyMemoryError::new_err(()));
        }
        Ok(MmapAllocator {
            address: p as usize,
        })
    }

    #[getter]
    fn address(&self) -> usize {
        self.address
    }

    /// Unmaps `length` bytes starting `offset` bytes into the mapping.
    #[pyo3(signature = (length, offset=0))]
    fn munmap(&self, length: usize, offset: usize) -> PyResult<()> {
        let addr = self.address.wrapping_add(offset);
        // SAFETY: unmapping (part of) our own mapping, as the caller asks.
        let ret = unsafe { libc::munmap(addr as *mut c_void, length) };
        if ret != 0 {
            return Err(PyMemoryError::new_err(format!(
                "munmap rcode: {ret} errno: {}",
                errno()
            )));
        }
        Ok(())
    }
}

/// Names the calling thread with `prctl(PR_SET_NAME)`; returns prctl's result.
#[pyfunction]
fn set_thread_name(name: &Bound<'_, PyAny>) -> PyResult<i32> {
    let bytes: Vec<u8> = if let Ok(b) = name.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else {
        name.extract::<String>()?.into_bytes()
    };
    let name = CString::new(bytes).map_err(|e| PyValueError::new_err(e.to_string()))?;
    // SAFETY: PR_SET_NAME reads a NUL-terminated string.
    Ok(unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) })
}

/// Calls `func` from native code (a frame the tracker does not see as Python).
#[pyfunction]
fn function_caller(func: &Bound<'_, PyAny>) -> PyResult<()> {
    func.call0()?;
    Ok(())
}

/// With the GIL released: writes a byte to `wake_up_main_fd`, waits for a byte on
/// `wake_up_thread_fd`, then `valloc(1234)`. With the GIL held again: frees it, then
/// `valloc(4321)` and frees that.
#[pyfunction]
fn allocate_without_gil_held(py: Python<'_>, wake_up_main_fd: c_int, wake_up_thread_fd: c_int) {
    let p = py.detach(|| {
        let mut buf = 0u8;
        // SAFETY: reading/writing one byte through valid pointers; plain C allocation.
        unsafe {
            while libc::write(wake_up_main_fd, &buf as *const u8 as *const c_void, 1) != 1 {}
            while libc::read(wake_up_thread_fd, &mut buf as *mut u8 as *mut c_void, 1) != 1 {}
            keep(valloc(1234)) as usize
        }
    });
    // SAFETY: freeing what valloc returned; plain C allocation.
    unsafe {
        libc::free(p as *mut c_void);
        let q = keep(valloc(4321));
        libc::free(q);
    }
}

/// Calls `allocator_fn(size)`, then `valloc(size)` and frees it, from native code.
#[pyfunction]
fn _cython_nested_allocation(allocator_fn: &Bound<'_, PyAny>, size: Size) -> PyResult<()> {
    let size = size.0;
    allocator_fn.call1((size,))?;
    // SAFETY: plain C allocation.
    unsafe { libc::free(keep(valloc(size))) };
    Ok(())
}

#[inline(never)]
fn allocation_place_a(size: usize) -> *mut c_void {
    // SAFETY: plain C allocation.
    keep(unsafe { valloc(size) })
}

#[inline(never)]
fn allocation_place_b(size: usize) -> *mut c_void {
    // SAFETY: plain C allocation.
    keep(unsafe { valloc(size) })
}

/// `valloc(size)` from two different native functions, then frees both.
#[pyfunction]
fn _cython_allocate_in_two_places(size: Size) {
    let size = size.0;
    let a = allocation_place_a(size);
    let b = allocation_place_b(size);
    // SAFETY: freeing what valloc returned.
    unsafe {
        libc::free(a);
        libc::free(b);
    }
}

/// Reserves room for `size / sizeof(int)` ints in a vector; returns its length (0).
#[pyfunction]
fn allocate_cpp_vector(size: Size) -> usize {
    let size = size.0;
    let v: Vec<c_int> = Vec::with_capacity(size / std::mem::size_of::<c_int>());
    std::hint::black_box(&v);
    v.len()
}

/// Pushes `size / sizeof(int)` ints into a vector one by one; returns its length.
#[pyfunction]
fn fill_cpp_vector(size: Size) -> usize {
    let size = size.0;
    let n = size / std::mem::size_of::<c_int>();
    let mut v: Vec<c_int> = Vec::new();
    for i in 0..n {
        v.push(i as c_int);
    }
    std::hint::black_box(&v);
    v.len()
}

/// Exits the process with C `exit(0)`; with `py_finalize`, finalizes the interpreter first.
#[pyfunction]
#[pyo3(signature = (py_finalize=false))]
fn exit(py: Python<'_>, py_finalize: bool) {
    if py_finalize {
        // SAFETY: the GIL is held; the process ends right after.
        unsafe {
            pyo3::ffi::Py_FinalizeEx();
            libc::exit(0)
        }
    }
    py.detach(|| {
        // SAFETY: ends the process.
        unsafe { libc::exit(0) };
    })
}

#[pymodule]
fn _test_utils(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MemoryAllocator>()?;
    m.add_class::<PymallocMemoryAllocator>()?;
    m.add_class::<MmapAllocator>()?;
    m.add_function(wrap_pyfunction!(set_thread_name, m)?)?;
    m.add_function(wrap_pyfunction!(function_caller, m)?)?;
    m.add_function(wrap_pyfunction!(allocate_without_gil_held, m)?)?;
    m.add_function(wrap_pyfunction!(_cython_nested_allocation, m)?)?;
    m.add_function(wrap_pyfunction!(_cython_allocate_in_two_places, m)?)?;
    m.add_function(wrap_pyfunction!(allocate_cpp_vector, m)?)?;
    m.add_function(wrap_pyfunction!(fill_cpp_vector, m)?)?;
    m.add_function(wrap_pyfunction!(exit, m)?)?;
    Ok(())
}
