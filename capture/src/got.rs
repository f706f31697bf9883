//! Installs and removes the allocation hooks by rewriting Global Offset Table entries: for every
//! loaded ELF object (but our own library and the dynamic loader), each PLT/GOT relocation that
//! names a hooked function is pointed at our hook, and pointed back at the real function on stop.

use std::ffi::{c_char, c_int, c_void, CStr};

use libc::{dl_phdr_info, size_t, Elf64_Phdr};

/// (symbol name, replacement address) pairs for one pass.
pub type Table<'a> = &'a [(&'a CStr, usize)];

const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;
pub(crate) const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
pub(crate) const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_JMPREL: i64 = 23;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

/// An entry of an object's dynamic section.
#[repr(C)]
pub(crate) struct Dyn {
    pub(crate) tag: i64,
    pub(crate) val: u64,
}

#[repr(C)]
struct Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

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
/// `slot` must be a GOT entry of a loaded object.
unsafe fn write_slot(slot: usize, value: usize, relro: Option<(usize, usize)>) {
    let p = slot as *mut usize;
    if std::ptr::read_volatile(p) == value {
        return;
    }
    let in_relro = relro.is_some_and(|(s, e)| slot >= s && slot < e);
    let (page, size) = page_bounds(slot);
    if in_relro {
        libc::mprotect(
            page as *mut c_void,
            size,
            libc::PROT_READ | libc::PROT_WRITE,
        );
    }
    std::ptr::write_volatile(p, value);
    if in_relro {
        libc::mprotect(page as *mut c_void, size, libc::PROT_READ);
    }
}

unsafe extern "C" fn visit(info: *mut dl_phdr_info, _size: size_t, data: *mut c_void) -> c_int {
    let pass = &*(data as *const Pass);
    let info = &*info;
    let base = info.dlpi_addr as usize;
    let name = if info.dlpi_name.is_null() {
        ""
    } else {
        CStr::from_ptr(info.dlpi_name).to_str().unwrap_or("")
    };
    if base == pass.skip_base
        || name.contains("linux-vdso")
        || name.contains("/ld-linux")
        || name.contains("ld-linux-x86-64")
    {
        return 0;
    }
    let phdrs: &[Elf64_Phdr] = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
    let mut dynamic: Option<*const Dyn> = None;
    let mut relro: Option<(usize, usize)> = None;
    for ph in phdrs {
        if ph.p_type == PT_DYNAMIC {
            dynamic = Some((base + ph.p_vaddr as usize) as *const Dyn);
        } else if ph.p_type == PT_GNU_RELRO {
            // The loader write-protects whole pages only: [start, end) rounded down.
            let (s, _) = page_bounds(base + ph.p_vaddr as usize);
            let (e, _) = page_bounds(base + (ph.p_vaddr + ph.p_memsz) as usize);
            relro = Some((s, e));
        }
    }
    let Some(mut d) = dynamic else { return 0 };
    let (mut strtab, mut symtab) = (0usize, 0usize);
    let (mut jmprel, mut pltrelsz, mut rela, mut relasz) = (0usize, 0usize, 0usize, 0usize);
    // The loader relocates most dynamic entries in place; the vDSO's stay relative.
    let fix = |v: u64| -> usize {
        let v = v as usize;
        if v < base {
            v + base
        } else {
            v
        }
    };
    while (*d).tag != DT_NULL {
        match (*d).tag {
            DT_STRTAB => strtab = fix((*d).val),
            DT_SYMTAB => symtab = fix((*d).val),
            DT_JMPREL => jmprel = fix((*d).val),
            DT_PLTRELSZ => pltrelsz = (*d).val as usize,
            DT_RELA => rela = fix((*d).val),
            DT_RELASZ => relasz = (*d).val as usize,
            _ => {}
        }
        d = d.add(1);
    }
    if strtab == 0 || symtab == 0 {
        return 0;
    }
    for (table, bytes) in [(jmprel, pltrelsz), (rela, relasz)] {
        if table == 0 || bytes == 0 {
            continue;
        }
        let relas = std::slice::from_raw_parts(table as *const Rela, bytes / size_of::<Rela>());
        for r in relas {
            let kind = (r.info & 0xffff_ffff) as u32;
            if kind != R_X86_64_JUMP_SLOT && kind != R_X86_64_GLOB_DAT {
                continue;
            }
            let sym = &*((symtab as *const Sym).add((r.info >> 32) as usize));
            if sym.name == 0 {
                continue;
            }
            let sym_name = CStr::from_ptr((strtab + sym.name as usize) as *const c_char);
            let Some(&(_, value)) = pass.table.iter().find(|(n, _)| *n == sym_name) else {
                continue;
            };
            let slot = base + r.offset as usize;
            if let Some(from) = pass.only_from {
                if !from.contains(&std::ptr::read_volatile(slot as *const usize)) {
                    continue;
                }
            }
            write_slot(slot, value, relro);
        }
    }
    0
}

/// The load address of the object containing `addr` (our own library, to skip it).
pub fn object_base_of(addr: usize) -> usize {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables.
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
    // SAFETY: `visit` only touches GOT slots of loaded objects, described by the loader.
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
