//! Installs and removes the allocation hooks by rewriting Global Offset Table entries: for every
//! loaded ELF object (but our own library and the dynamic loader), each PLT/GOT relocation that
//! names a hooked function is pointed at our hook, and pointed back at the real function on stop.

use std::ffi::{c_int, c_void, CStr};

use libc::{dl_phdr_info, size_t, Elf64_Phdr};

use crate::elf::{Dyn, DynamicSection, PT_DYNAMIC, PT_GNU_RELRO};

/// (symbol name, replacement address) pairs for one pass.
pub type Table<'a> = &'a [(&'a CStr, usize)];

struct Pass<'a> {
    table: Table<'a>,
    /// Only rewrite slots currently holding one of these values (restoring), or any (installing).
    only_from: Option<&'a [usize]>,
    skip_base: usize,
}

fn page_bounds(addr: usize) -> (usize, usize) {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    (addr & !(page - 1), page)
}

/// Writes `value` into the GOT slot at `slot`, making its page writable first when needed.
///
/// # Safety
/// `slot` must be a GOT entry of a loaded object, and `relro` that object's RELRO range.
unsafe fn write_slot(slot: usize, value: usize, relro: Option<(usize, usize)>) {
    let p = slot as *mut usize;
    // SAFETY: by the contract, `p` is a mapped, aligned GOT entry.
    if unsafe { std::ptr::read_volatile(p) } == value {
        return;
    }
    let in_relro = relro.is_some_and(|(s, e)| slot >= s && slot < e);
    let (page, size) = page_bounds(slot);
    if in_relro {
        // SAFETY: `page` is the mapped page holding the slot; it only gains write access.
        unsafe {
            libc::mprotect(
                page as *mut c_void,
                size,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
    }
    // SAFETY: a mapped, aligned GOT entry, writable now (RELRO pages were just made so; the
    // others the loader leaves writable). The loader reads it only to call through it.
    unsafe { std::ptr::write_volatile(p, value) };
    if in_relro {
        // SAFETY: as above; the page goes back to read-only, as the loader left it.
        unsafe { libc::mprotect(page as *mut c_void, size, libc::PROT_READ) };
    }
}

/// Whether the object named `name` loaded at `base` is left alone: our own library, the vDSO
/// and the dynamic loader.
fn skipped(pass: &Pass, base: usize, name: &str) -> bool {
    base == pass.skip_base
        || name.contains("linux-vdso")
        || name.contains("/ld-linux")
        || name.contains("ld-linux-x86-64")
}

/// An object's dynamic section and its RELRO range (whole pages: [start, end) rounded down,
/// as the loader write-protects them), from its program headers.
fn dynamic_and_relro(base: usize, phdrs: &[Elf64_Phdr]) -> (*const Dyn, Option<(usize, usize)>) {
    let mut dynamic = std::ptr::null();
    let mut relro = None;
    for ph in phdrs {
        if ph.p_type == PT_DYNAMIC {
            dynamic = (base + ph.p_vaddr as usize) as *const Dyn;
        } else if ph.p_type == PT_GNU_RELRO {
            let (s, _) = page_bounds(base + ph.p_vaddr as usize);
            let (e, _) = page_bounds(base + (ph.p_vaddr + ph.p_memsz) as usize);
            relro = Some((s, e));
        }
    }
    (dynamic, relro)
}

/// Rewrites the GOT slots of one loaded object that the pass asks for.
fn rewrite_object(
    pass: &Pass,
    base: usize,
    dynamic: DynamicSection,
    relro: Option<(usize, usize)>,
) {
    let (Some(strtab), Some(symtab)) = (dynamic.string_table(), dynamic.symbol_table()) else {
        return;
    };
    for relas in dynamic.relocation_tables() {
        for r in relas.iter().filter(|r| r.fills_got_slot()) {
            // SAFETY: the symbol index comes from one of this object's relocations.
            let Some(name) = (unsafe { symtab.name_offset(r.symbol()) }) else {
                continue;
            };
            // SAFETY: a symbol's name is a string of its object's string table.
            let sym_name = unsafe { strtab.get(name) };
            let Some(&(_, value)) = pass.table.iter().find(|(n, _)| *n == sym_name) else {
                continue;
            };
            let slot = r.slot(base);
            if let Some(from) = pass.only_from {
                // SAFETY: the relocation's target is a mapped, aligned GOT entry.
                if !from.contains(&unsafe { std::ptr::read_volatile(slot as *const usize) }) {
                    continue;
                }
            }
            // SAFETY: `slot` is a GOT entry of this loaded object; `relro` is its RELRO range.
            unsafe { write_slot(slot, value, relro) };
        }
    }
}

/// `dl_iterate_phdr`'s callback: one loaded object per call.
///
/// # Safety
/// `info` must describe a loaded object (as the loader passes it) and `data` point at a `Pass`.
unsafe extern "C" fn visit(info: *mut dl_phdr_info, _size: size_t, data: *mut c_void) -> c_int {
    // SAFETY: `install`/`restore` pass a `Pass` that outlives the iteration.
    let pass = unsafe { &*(data as *const Pass) };
    // SAFETY: the loader passes a valid `dl_phdr_info` for the duration of the call.
    let info = unsafe { &*info };
    let base = info.dlpi_addr as usize;
    let name = if info.dlpi_name.is_null() {
        ""
    } else {
        // SAFETY: the loader's object names are NUL-terminated and live while it is loaded.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_str()
            .unwrap_or("")
    };
    if skipped(pass, base, name) {
        return 0;
    }
    // SAFETY: the loader's program headers: `dlpi_phnum` entries at `dlpi_phdr`.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let (dynamic, relro) = dynamic_and_relro(base, phdrs);
    // SAFETY: PT_DYNAMIC locates the mapped dynamic section of this object, loaded at `base`
    // for the whole callback (the loader holds its lock during `dl_iterate_phdr`).
    if let Some(dynamic) = unsafe { DynamicSection::new(dynamic, base) } {
        rewrite_object(pass, base, dynamic, relro);
    }
    0
}

/// The load address of the object containing `addr` (our own library, to skip it).
pub fn object_base_of(addr: usize) -> usize {
    // SAFETY: Dl_info is plain data (pointers and integers), valid all zero.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid place to fill; dladdr only reads the loader's tables.
    if unsafe { libc::dladdr(addr as *const c_void, &mut info) } != 0 {
        info.dli_fbase as usize
    } else {
        0
    }
}

/// Points every GOT slot naming a function of `table` at its replacement, in every loaded
/// object except the one loaded at `skip_base`.
pub fn install(table: Table, skip_base: usize) {
    let pass = Pass {
        table,
        only_from: None,
        skip_base,
    };
    // SAFETY: `visit` gets `&pass` (alive for the whole iteration) and only touches GOT slots
    // of loaded objects, as the loader describes them.
    unsafe { libc::dl_iterate_phdr(Some(visit), &pass as *const Pass as *mut c_void) };
}

/// Points every GOT slot that currently holds one of `hooks` back at the real function.
pub fn restore(table: Table, hooks: &[usize], skip_base: usize) {
    let pass = Pass {
        table,
        only_from: Some(hooks),
        skip_base,
    };
    // SAFETY: as in `install`.
    unsafe { libc::dl_iterate_phdr(Some(visit), &pass as *const Pass as *mut c_void) };
}
