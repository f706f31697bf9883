//! Resolving a bare library name (`dlopen("libfoo.so")`) as the dynamic linker would for the
//! object that called `dlopen`. The hook forwards to the real `dlopen` from the tracker's own
//! library, so left alone the linker would search the *tracker's* RPATH/RUNPATH instead of the
//! caller's, and a library found only through the caller's would fail to load under the
//! tracker. Here the caller's own `DT_RPATH`/`DT_RUNPATH` (with `$ORIGIN` expanded) and
//! `LD_LIBRARY_PATH` are searched in the linker's order, and the library found is opened by its
//! path; anything else (a name with a slash, a library already loaded, one found in the
//! linker's cache or default directories) goes to the real `dlopen` unchanged.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::elf::{Dyn, DynamicSection};

const RTLD_DL_LINKMAP: c_int = 2;

/// The public head of glibc's `struct link_map`.
#[repr(C)]
struct LinkMap {
    l_addr: usize,
    l_name: *const c_char,
    l_ld: *const Dyn,
    l_next: *const LinkMap,
    l_prev: *const LinkMap,
}

extern "C" {
    fn dladdr1(
        addr: *const c_void,
        info: *mut libc::Dl_info,
        extra: *mut *mut c_void,
        flags: c_int,
    ) -> c_int;
}

/// The search path an object asks for: its RUNPATH if it has one (which the linker then reads
/// after LD_LIBRARY_PATH), else its RPATH (read before).
enum SearchPath {
    RunPath(Vec<PathBuf>),
    RPath(Vec<PathBuf>),
    None,
}

/// Where the linker would find `name` for code at `caller`, when that differs from what the
/// tracker's own search path would give; None to leave the call as it is.
pub fn resolve(name: &CStr, caller: usize) -> Option<CString> {
    let bytes = name.to_bytes();
    if bytes.is_empty() || bytes.contains(&b'/') {
        return None;
    }
    let name = std::ffi::OsStr::from_bytes(bytes);
    let (caller_path, main_map) = caller_object(caller)?;
    let caller_search = search_path(&caller_path);
    let env = library_path_env();
    let candidates: Vec<PathBuf> = match caller_search {
        SearchPath::RunPath(dirs) => env.into_iter().chain(dirs).collect(),
        SearchPath::RPath(dirs) => {
            // The caller's RPATH, then the executable's (the root of every loader chain) unless
            // the executable has a RUNPATH, then LD_LIBRARY_PATH.
            let exe = match main_map.as_ref().map(search_path) {
                Some(SearchPath::RPath(d)) => d,
                _ => Vec::new(),
            };
            dirs.into_iter().chain(exe).chain(env).collect()
        }
        SearchPath::None => return None,
    };
    candidates
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| is_loadable(p))
        .and_then(|p| CString::new(p.as_os_str().as_bytes()).ok())
}

/// A loaded object: its dynamic section, load address and directory (`$ORIGIN`).
struct Object {
    dynamic: *const Dyn,
    base: usize,
    origin: PathBuf,
}

impl Object {
    fn of(lm: &LinkMap) -> Object {
        Object {
            dynamic: lm.l_ld,
            base: lm.l_addr,
            origin: origin_of(lm),
        }
    }
}

/// The calling object's dynamic section and `$ORIGIN`, and the executable's.
fn caller_object(caller: usize) -> Option<(Object, Option<Object>)> {
    // SAFETY: Dl_info is plain data (pointers and integers), valid all zero.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut map: *mut c_void = std::ptr::null_mut();
    // SAFETY: dladdr1 fills `info` and the link map pointer for a mapped address, or fails;
    // both are valid places to write.
    let ok = unsafe {
        dladdr1(
            caller as *const c_void,
            &mut info,
            &mut map,
            RTLD_DL_LINKMAP,
        )
    };
    if ok == 0 || map.is_null() {
        return None;
    }
    // SAFETY: the loader's link map entries stay valid while their objects are loaded.
    let lm = unsafe { &*(map as *const LinkMap) };
    let this = Object::of(lm);
    // The executable is the head of the list.
    let mut head = lm as *const LinkMap;
    // SAFETY: walking the loader's list backwards to its head.
    unsafe {
        while !(*head).l_prev.is_null() {
            head = (*head).l_prev;
        }
    }
    // SAFETY: as above.
    let head = unsafe { &*head };
    let main = (!std::ptr::eq(head, lm)).then(|| Object::of(head));
    Some((this, main))
}

/// The directory holding an object (`$ORIGIN`); the executable's name is empty in its map.
fn origin_of(lm: &LinkMap) -> PathBuf {
    let name = if lm.l_name.is_null() {
        Vec::new()
    } else {
        // SAFETY: the loader's names are NUL-terminated.
        unsafe { CStr::from_ptr(lm.l_name) }.to_bytes().to_vec()
    };
    let path = if name.is_empty() {
        std::fs::read_link("/proc/self/exe").unwrap_or_default()
    } else {
        PathBuf::from(std::ffi::OsStr::from_bytes(&name))
    };
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// An object's RUNPATH or RPATH, each directory with `$ORIGIN` expanded (directories with other
/// substitutions are left out).
fn search_path(object: &Object) -> SearchPath {
    // SAFETY: `l_ld` of a loaded object's link map entry: its mapped dynamic section (or
    // null), the object loaded at `l_addr` while the caller that is in it runs.
    let Some(dynamic) = (unsafe { DynamicSection::new(object.dynamic, object.base) }) else {
        return SearchPath::None;
    };
    let Some(strtab) = dynamic.string_table() else {
        return SearchPath::None;
    };
    let read = |offset: usize| -> Vec<PathBuf> {
        // SAFETY: DT_RPATH/DT_RUNPATH are offsets of strings in the object's string table.
        let text = unsafe { strtab.get(offset) }.to_bytes();
        text.split(|&b| b == b':')
            .filter(|dir| !dir.is_empty())
            .filter_map(|dir| expand(dir, object.origin.as_path()))
            .collect()
    };
    match dynamic.search_paths() {
        (Some(r), _) => SearchPath::RunPath(read(r)),
        (None, Some(r)) => SearchPath::RPath(read(r)),
        (None, None) => SearchPath::None,
    }
}

/// One search directory with `$ORIGIN`/`${ORIGIN}` replaced; None for other substitutions.
fn expand(dir: &[u8], origin: &Path) -> Option<PathBuf> {
    let origin = origin.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(dir.len() + origin.len());
    let mut rest = dir;
    while let Some(at) = rest.iter().position(|&b| b == b'$') {
        out.extend_from_slice(&rest[..at]);
        let tail = &rest[at..];
        if let Some(r) = tail.strip_prefix(b"${ORIGIN}") {
            out.extend_from_slice(origin);
            rest = r;
        } else if tail.starts_with(b"$ORIGIN")
            && !tail
                .get(7)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            out.extend_from_slice(origin);
            rest = &tail[7..];
        } else {
            return None; // $LIB, $PLATFORM: left to the linker
        }
    }
    out.extend_from_slice(rest);
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(&out)))
}

/// LD_LIBRARY_PATH's directories (the linker ignores it in secure-execution mode).
fn library_path_env() -> Vec<PathBuf> {
    // SAFETY: getauxval has no preconditions.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return Vec::new();
    }
    std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| {
            v.as_bytes()
                .split(|&b| b == b':' || b == b';')
                .filter(|d| !d.is_empty())
                .map(|d| PathBuf::from(std::ffi::OsStr::from_bytes(d)))
                .collect()
        })
        .unwrap_or_default()
}

/// A 64-bit x86-64 ELF file: what the linker would accept from a search directory (it skips
/// files of another class or machine and goes on searching).
fn is_loadable(path: &Path) -> bool {
    let mut head = [0u8; 20];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if f.read_exact(&mut head).is_err() {
        return false;
    }
    head[..4] == *b"\x7fELF" && head[4] == 2 && u16::from_le_bytes([head[18], head[19]]) == 62
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_origin_only() {
        let o = Path::new("/opt/app/lib");
        assert_eq!(expand(b"$ORIGIN/../x", o), Some("/opt/app/lib/../x".into()));
        assert_eq!(expand(b"${ORIGIN}/y", o), Some("/opt/app/lib/y".into()));
        assert_eq!(expand(b"/plain", o), Some("/plain".into()));
        assert_eq!(expand(b"$ORIGINAL/z", o), None);
        assert_eq!(expand(b"/usr/$LIB", o), None);
    }

    #[test]
    fn names_with_a_slash_are_left_alone() {
        let me = expands_origin_only as *const () as usize;
        assert!(resolve(c"./libx.so", me).is_none());
        assert!(resolve(c"", me).is_none());
    }
}
