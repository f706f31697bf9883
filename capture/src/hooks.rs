//! The replacement allocation functions written into the GOTs, and the real functions they
//! forward to. A hook calls the real function first (or, for frees, records first so the
//! address cannot be reused before the record is ordered), never panics, and never calls into
//! Python.

use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use memray_format::records::AllocatorType as A;
use std::sync::Mutex;

use crate::got;
use crate::tracker::{
    record_allocation, record_deallocation, record_thread_name, KeepErrno, ACTIVE,
};

macro_rules! real_fns {
    ($($slot:ident = $name:literal),* $(,)?) => {
        $(static $slot: AtomicUsize = AtomicUsize::new(0);)*
        /// Resolves every real function (before any hook is installed).
        pub fn resolve_real() {
            $(if $slot.load(Relaxed) == 0 {
                // SAFETY: dlsym with a NUL-terminated name.
                let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, concat!($name, "\0").as_ptr() as *const c_char) };
                $slot.store(p as usize, Relaxed);
            })*
        }
        fn real_table() -> Vec<(&'static CStr, usize)> {
            vec![$((
                CStr::from_bytes_with_nul(concat!($name, "\0").as_bytes()).unwrap(),
                $slot.load(Relaxed),
            )),*]
        }
    };
}

real_fns!(
    MALLOC = "malloc",
    CALLOC = "calloc",
    REALLOC = "realloc",
    FREE = "free",
    POSIX_MEMALIGN = "posix_memalign",
    ALIGNED_ALLOC = "aligned_alloc",
    MEMALIGN = "memalign",
    VALLOC = "valloc",
    PVALLOC = "pvalloc",
    MMAP = "mmap",
    MMAP64 = "mmap64",
    MUNMAP = "munmap",
    DLOPEN = "dlopen",
    DLCLOSE = "dlclose",
    PRCTL = "prctl",
    EXIT_NOW = "_exit",
    EXECV = "execv",
    EXECVE = "execve",
    EXECVP = "execvp",
);

macro_rules! real {
    ($slot:ident as $t:ty) => {{
        // SAFETY: the slot holds the address of the named libc function, resolved by
        // `resolve_real` before any hook could run.
        unsafe { std::mem::transmute::<usize, $t>($slot.load(Relaxed)) }
    }};
}

extern "C" fn malloc(size: usize) -> *mut c_void {
    let p = real!(MALLOC as extern "C" fn(usize) -> *mut c_void)(size);
    if !p.is_null() {
        record_allocation(p as usize, size, A::Malloc);
    }
    p
}

extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let p = real!(CALLOC as extern "C" fn(usize, usize) -> *mut c_void)(n, size);
    if !p.is_null() {
        record_allocation(p as usize, n.wrapping_mul(size), A::Calloc);
    }
    p
}

extern "C" fn realloc(old: *mut c_void, size: usize) -> *mut c_void {
    let p = real!(REALLOC as extern "C" fn(*mut c_void, usize) -> *mut c_void)(old, size);
    if !p.is_null() {
        if !old.is_null() {
            record_deallocation(old as usize, 0, A::Free);
        }
        record_allocation(p as usize, size, A::Realloc);
    }
    p
}

extern "C" fn free(p: *mut c_void) {
    if !p.is_null() {
        record_deallocation(p as usize, 0, A::Free);
    }
    real!(FREE as extern "C" fn(*mut c_void))(p)
}

extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let r = real!(POSIX_MEMALIGN as extern "C" fn(*mut *mut c_void, usize, usize) -> c_int)(
        out, align, size,
    );
    if r == 0 && !out.is_null() {
        // SAFETY: on success posix_memalign stored the block in *out.
        let p = unsafe { *out };
        record_allocation(p as usize, size, A::PosixMemalign);
    }
    r
}

extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    let p = real!(ALIGNED_ALLOC as extern "C" fn(usize, usize) -> *mut c_void)(align, size);
    if !p.is_null() {
        record_allocation(p as usize, size, A::AlignedAlloc);
    }
    p
}

extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let p = real!(MEMALIGN as extern "C" fn(usize, usize) -> *mut c_void)(align, size);
    if !p.is_null() {
        record_allocation(p as usize, size, A::Memalign);
    }
    p
}

extern "C" fn valloc(size: usize) -> *mut c_void {
    let p = real!(VALLOC as extern "C" fn(usize) -> *mut c_void)(size);
    if !p.is_null() {
        record_allocation(p as usize, size, A::Valloc);
    }
    p
}

extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let p = real!(PVALLOC as extern "C" fn(usize) -> *mut c_void)(size);
    if !p.is_null() {
        record_allocation(p as usize, size, A::Pvalloc);
    }
    p
}

type MmapFn = extern "C" fn(*mut c_void, usize, c_int, c_int, c_int, i64) -> *mut c_void;

extern "C" fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> *mut c_void {
    mapped(real!(MMAP as MmapFn)(addr, len, prot, flags, fd, off), len)
}

/// Records a successful `mmap`/`mmap64` and passes its result on.
#[inline]
fn mapped(p: *mut c_void, len: usize) -> *mut c_void {
    if p != libc::MAP_FAILED {
        record_allocation(p as usize, len, A::Mmap);
    }
    p
}

extern "C" fn mmap64(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: i64,
) -> *mut c_void {
    mapped(
        real!(MMAP64 as MmapFn)(addr, len, prot, flags, fd, off),
        len,
    )
}

extern "C" fn munmap(addr: *mut c_void, len: usize) -> c_int {
    record_deallocation(addr as usize, len, A::Munmap);
    real!(MUNMAP as extern "C" fn(*mut c_void, usize) -> c_int)(addr, len)
}

extern "C" {
    /// The `dlopen` hook (csrc/caller.c): calls [`memray_dlopen_from`] with its caller.
    fn memray_dlopen_hook(name: *const c_char, flags: c_int) -> *mut c_void;
}

/// `dlopen` called from `caller`: a bare name is looked up with the caller's search path (see
/// `dlopen_path`), as it would be without the tracker in between.
#[no_mangle]
extern "C" fn memray_dlopen_from(
    name: *const c_char,
    flags: c_int,
    caller: *const c_void,
) -> *mut c_void {
    let real = real!(DLOPEN as extern "C" fn(*const c_char, c_int) -> *mut c_void);
    // The lookup below may touch errno: the real call starts from the program's.
    let errno = KeepErrno::new();
    let resolved = if name.is_null() {
        None
    } else {
        // SAFETY: dlopen's argument is a NUL-terminated string.
        let bare = unsafe { CStr::from_ptr(name) };
        crate::dlopen_path::resolve(bare, caller as usize).filter(|_| {
            // A library already loaded under this name (or soname) is the linker's answer.
            let loaded = real(name, libc::RTLD_LAZY | libc::RTLD_NOLOAD);
            if !loaded.is_null() {
                real!(DLCLOSE as extern "C" fn(*mut c_void) -> c_int)(loaded);
            }
            loaded.is_null()
        })
    };
    drop(errno);
    let h = real(resolved.as_ref().map_or(name, |p| p.as_ptr()), flags);
    // What the program sees is what the real call left.
    let _errno = KeepErrno::new();
    if !h.is_null() && ACTIVE.load(Relaxed) {
        // The new library (and whatever it pulled in) must be hooked too.
        install_got();
        images_changed(false);
    }
    h
}

extern "C" fn dlclose(h: *mut c_void) -> c_int {
    let r = real!(DLCLOSE as extern "C" fn(*mut c_void) -> c_int)(h);
    let _errno = KeepErrno::new();
    if r == 0 && ACTIVE.load(Relaxed) {
        images_changed(true);
    }
    r
}

/// Tells a native capture that the set of loaded objects changed.
fn images_changed(unloaded: bool) {
    if !crate::native::NATIVE.load(Relaxed) {
        return;
    }
    // Nothing the update allocates is recorded (and so nothing waits for the lock it holds).
    let Some(_quiet) = crate::seam::Guard::enter() else {
        return;
    };
    if let Some(state) = crate::tracker::STATE.lock().as_mut() {
        state.images_changed(unloaded);
    }
}

/// `prctl` is variadic; on x86-64 its integer arguments travel in the same registers as
/// fixed ones, so forwarding five words is exact.
extern "C" fn prctl(option: c_int, a2: c_ulong, a3: c_ulong, a4: c_ulong, a5: c_ulong) -> c_int {
    let r = real!(PRCTL as extern "C" fn(c_int, c_ulong, c_ulong, c_ulong, c_ulong) -> c_int)(
        option, a2, a3, a4, a5,
    );
    if r == 0 && option == libc::PR_SET_NAME && a2 != 0 {
        // SAFETY: PR_SET_NAME takes a NUL-terminated string (at most 16 bytes are used).
        let name = unsafe { CStr::from_ptr(a2 as *const c_char) }.to_string_lossy();
        record_thread_name(&name);
    }
    r
}

/// `_exit` (what `os._exit` calls) ends the process without any exit handler: the capture is
/// finished first, so nothing recorded is lost.
extern "C" fn exit_now(status: c_int) -> ! {
    crate::finish_before_exit();
    real!(EXIT_NOW as extern "C" fn(c_int) -> !)(status)
}

/// Before `exec*` replaces the process image (`os.execv`, a C extension's `execvp`): a
/// tracked process finishes its capture, as it would at exit, since nothing of the old image
/// runs afterwards. Only when the exec can work (the file exists and may be executed), so a
/// failing call leaves tracking on; `execvp` searches `PATH`, which the real call does.
fn before_exec(path: *const c_char, searched: bool) {
    if path.is_null() || !ACTIVE.load(Relaxed) {
        return;
    }
    let _errno = KeepErrno::new();
    // SAFETY: exec's first argument is a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(path) };
    let direct = !searched || name.to_bytes().contains(&b'/');
    // SAFETY: access with a NUL-terminated path.
    if !direct || unsafe { libc::access(path, libc::X_OK) } == 0 {
        crate::finish_before_exit();
    }
}

type Argv = *const *const c_char;

extern "C" fn execv(path: *const c_char, argv: Argv) -> c_int {
    before_exec(path, false);
    real!(EXECV as extern "C" fn(*const c_char, Argv) -> c_int)(path, argv)
}

extern "C" fn execve(path: *const c_char, argv: Argv, envp: Argv) -> c_int {
    before_exec(path, false);
    real!(EXECVE as extern "C" fn(*const c_char, Argv, Argv) -> c_int)(path, argv, envp)
}

extern "C" fn execvp(file: *const c_char, argv: Argv) -> c_int {
    before_exec(file, true);
    real!(EXECVP as extern "C" fn(*const c_char, Argv) -> c_int)(file, argv)
}

fn hook_table() -> Vec<(&'static CStr, usize)> {
    let hooks: [usize; 19] = [
        malloc as *const () as usize,
        calloc as *const () as usize,
        realloc as *const () as usize,
        free as *const () as usize,
        posix_memalign as *const () as usize,
        aligned_alloc as *const () as usize,
        memalign as *const () as usize,
        valloc as *const () as usize,
        pvalloc as *const () as usize,
        mmap as *const () as usize,
        mmap64 as *const () as usize,
        munmap as *const () as usize,
        memray_dlopen_hook as *const () as usize,
        dlclose as *const () as usize,
        prctl as *const () as usize,
        exit_now as *const () as usize,
        execv as *const () as usize,
        execve as *const () as usize,
        execvp as *const () as usize,
    ];
    real_table()
        .into_iter()
        .zip(hooks)
        .map(|((name, _), hook)| (name, hook))
        .collect()
}

/// Serializes GOT rewrites (a `dlopen` on one thread while tracking stops on another).
static GOT_LOCK: Mutex<()> = Mutex::new(());

fn own_base() -> usize {
    got::object_base_of(malloc as *const () as usize)
}

/// Points every loaded object's allocation imports at the hooks.
pub fn install_got() {
    let _g = GOT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    resolve_real();
    got::install(&hook_table(), own_base());
}

/// Points them back at the real functions.
pub fn restore_got() {
    let _g = GOT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let table = hook_table();
    let hooks: Vec<usize> = table.iter().map(|(_, h)| *h).collect();
    got::restore(&real_table(), &hooks, own_base());
}
