//! Typed reading of a loaded ELF object's dynamic section (x86-64): the section as an iterator
//! of typed entries, and one lookup per table it points at (string table, symbol table,
//! relocation tables, search paths). `got` and `dlopen_path` read objects through it.

use std::ffi::{c_char, CStr};

/// Program header type of the dynamic section.
pub const PT_DYNAMIC: u32 = 2;
/// Program header type of the range the loader write-protects after relocating.
pub const PT_GNU_RELRO: u32 = 0x6474_e552;

const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_RPATH: i64 = 15;
const DT_JMPREL: i64 = 23;
const DT_RUNPATH: i64 = 29;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

/// An entry of an object's dynamic section, as the loader maps it.
#[repr(C)]
pub struct Dyn {
    tag: i64,
    val: u64,
}

/// A relocation with addend (`Elf64_Rela`).
#[repr(C)]
pub struct Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

impl Rela {
    /// True for the relocations that fill a GOT slot with a symbol's address (PLT jump slots
    /// and GOT data entries).
    pub fn fills_got_slot(&self) -> bool {
        let kind = (self.info & 0xffff_ffff) as u32;
        kind == R_X86_64_JUMP_SLOT || kind == R_X86_64_GLOB_DAT
    }

    /// The index of the relocation's symbol in the object's symbol table.
    pub fn symbol(&self) -> usize {
        (self.info >> 32) as usize
    }

    /// The address the relocation writes to, in an object loaded at `base`.
    pub fn slot(&self, base: usize) -> usize {
        base + self.offset as usize
    }
}

/// A symbol table entry (`Elf64_Sym`).
#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// One entry of the dynamic section, by tag (addresses as mapped, sizes in bytes, string
/// offsets into the string table); the entries nothing here reads are `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DynEntry {
    StrTab(u64),
    SymTab(u64),
    Rela(u64),
    RelaSize(u64),
    JmpRel(u64),
    PltRelSize(u64),
    RPath(u64),
    RunPath(u64),
    Other,
}

impl DynEntry {
    fn of(d: &Dyn) -> DynEntry {
        match d.tag {
            DT_STRTAB => DynEntry::StrTab(d.val),
            DT_SYMTAB => DynEntry::SymTab(d.val),
            DT_RELA => DynEntry::Rela(d.val),
            DT_RELASZ => DynEntry::RelaSize(d.val),
            DT_JMPREL => DynEntry::JmpRel(d.val),
            DT_PLTRELSZ => DynEntry::PltRelSize(d.val),
            DT_RPATH => DynEntry::RPath(d.val),
            DT_RUNPATH => DynEntry::RunPath(d.val),
            _ => DynEntry::Other,
        }
    }
}

/// The dynamic section of a loaded object.
#[derive(Clone, Copy)]
pub struct DynamicSection {
    start: *const Dyn,
    base: usize,
}

/// The entries of a dynamic section, up to its `DT_NULL`.
pub struct Entries {
    next: *const Dyn,
}

impl Iterator for Entries {
    type Item = DynEntry;

    fn next(&mut self) -> Option<DynEntry> {
        // SAFETY: `next` points into a dynamic section that `DynamicSection::new`'s caller
        // promised is mapped and ends with DT_NULL; iteration stops at that entry, so `next`
        // never passes it.
        let d = unsafe { &*self.next };
        if d.tag == DT_NULL {
            return None;
        }
        // SAFETY: `d` is not the last (DT_NULL) entry, so the next one is in the section.
        self.next = unsafe { self.next.add(1) };
        Some(DynEntry::of(d))
    }
}

/// An object's dynamic string table.
#[derive(Clone, Copy)]
pub struct StringTable(usize);

impl StringTable {
    /// The string at `offset`.
    ///
    /// # Safety
    /// `offset` must be the offset of a string of this table (a symbol's name, a DT_RPATH or
    /// DT_RUNPATH value of the same object), and the object must stay loaded while the
    /// returned string is used.
    pub unsafe fn get<'a>(&self, offset: usize) -> &'a CStr {
        // SAFETY: by the contract, a NUL-terminated string of the mapped table.
        unsafe { CStr::from_ptr((self.0 + offset) as *const c_char) }
    }
}

/// An object's dynamic symbol table.
#[derive(Clone, Copy)]
pub struct SymbolTable(usize);

impl SymbolTable {
    /// The string-table offset of the name of symbol `index`; None for a symbol without a
    /// name.
    ///
    /// # Safety
    /// `index` must be a symbol index of this table (one of the same object's relocations).
    pub unsafe fn name_offset(&self, index: usize) -> Option<usize> {
        // SAFETY: by the contract, entry `index` is inside the mapped table.
        let sym = unsafe { &*(self.0 as *const Sym).add(index) };
        (sym.name != 0).then_some(sym.name as usize)
    }
}

impl DynamicSection {
    /// The dynamic section at `start` of the object loaded at `base`; None when `start` is
    /// null.
    ///
    /// # Safety
    /// `start` must be null or point at the mapped dynamic section (ending with DT_NULL) of an
    /// object loaded at `base`, which stays loaded while the section and anything read from
    /// it are used.
    pub unsafe fn new(start: *const Dyn, base: usize) -> Option<DynamicSection> {
        (!start.is_null()).then_some(DynamicSection { start, base })
    }

    /// The section's entries.
    pub fn entries(&self) -> Entries {
        Entries { next: self.start }
    }

    /// An address from the section: the loader relocates most of them in place; the vDSO's
    /// stay relative to its base.
    fn address(&self, value: u64) -> usize {
        let v = value as usize;
        if v < self.base {
            v + self.base
        } else {
            v
        }
    }

    /// The (last) non-zero value of the entries `pick` chooses, as a mapped address.
    fn table(&self, pick: fn(DynEntry) -> Option<u64>) -> Option<usize> {
        let value = self.entries().filter_map(pick).last()?;
        (value != 0).then(|| self.address(value))
    }

    /// The object's string table.
    pub fn string_table(&self) -> Option<StringTable> {
        self.table(|e| match e {
            DynEntry::StrTab(v) => Some(v),
            _ => None,
        })
        .map(StringTable)
    }

    /// The object's symbol table.
    pub fn symbol_table(&self) -> Option<SymbolTable> {
        self.table(|e| match e {
            DynEntry::SymTab(v) => Some(v),
            _ => None,
        })
        .map(SymbolTable)
    }

    /// The object's relocation tables: the PLT's (DT_JMPREL) and the others (DT_RELA); an
    /// absent one is empty.
    pub fn relocation_tables(&self) -> [&[Rela]; 2] {
        let (mut jmprel, mut pltrelsz, mut rela, mut relasz) = (0, 0, 0, 0);
        for e in self.entries() {
            match e {
                DynEntry::JmpRel(v) => jmprel = self.address(v),
                DynEntry::PltRelSize(v) => pltrelsz = v as usize,
                DynEntry::Rela(v) => rela = self.address(v),
                DynEntry::RelaSize(v) => relasz = v as usize,
                _ => {}
            }
        }
        [(jmprel, pltrelsz), (rela, relasz)].map(|(table, bytes)| {
            if table == 0 || bytes == 0 {
                return &[][..];
            }
            // SAFETY: the loader maps the object's relocation tables where its dynamic
            // section says, `bytes` long; the object stays loaded (see `new`).
            unsafe { std::slice::from_raw_parts(table as *const Rela, bytes / size_of::<Rela>()) }
        })
    }

    /// The string-table offsets of the object's DT_RUNPATH and DT_RPATH, if it has them.
    pub fn search_paths(&self) -> (Option<usize>, Option<usize>) {
        let (mut runpath, mut rpath) = (None, None);
        for e in self.entries() {
            match e {
                DynEntry::RunPath(v) => runpath = Some(v as usize),
                DynEntry::RPath(v) => rpath = Some(v as usize),
                _ => {}
            }
        }
        (runpath, rpath)
    }
}
