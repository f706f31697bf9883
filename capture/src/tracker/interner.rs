//! The stack interner: turns a thread's Python stack (code object, instruction) and native
//! stack (return addresses) into node ids of the capture's two tries, defining each code
//! object, frame node and native node the first time it is seen. Each thread's cache of its
//! last stacks (see `thread_cache`) lets a stack reuse the part it shares with the previous one.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use memray_format::records::*;
use memray_format::RecordEncoder;
use rustc_hash::FxHashMap;

use super::thread_cache::ThreadCache;
use crate::seam;

/// Bumped whenever thread stack caches may hold stale node ids (a new capture, a code object
/// freed: its address may come back as another function).
static EPOCH: AtomicU32 = AtomicU32::new(1);
/// Bumped whenever thread native-stack caches may hold stale node ids (a new capture, a library
/// unloaded: its addresses may come back as another library's).
static NATIVE_EPOCH: AtomicU32 = AtomicU32::new(1);

struct CodeEntry {
    id: u32,
    lines: FxHashMap<i32, u32>,
}

pub struct StackInterner {
    codes: FxHashMap<usize, CodeEntry>,
    trie: FxHashMap<(u32, u32, u32), u32>,
    /// (parent node, code object address, instruction index) -> node: the one lookup the
    /// common case needs. Emptied whenever a code object dies.
    frames: FxHashMap<(u32, usize, i32), u32>,
    /// (parent native node, return address) -> native node.
    native_trie: FxHashMap<(u32, usize), u32>,
}

impl StackInterner {
    /// The interner of a new capture; every thread's cached stacks become stale.
    pub fn new() -> StackInterner {
        EPOCH.fetch_add(1, Relaxed);
        NATIVE_EPOCH.fetch_add(1, Relaxed);
        StackInterner {
            codes: FxHashMap::default(),
            trie: FxHashMap::default(),
            frames: FxHashMap::default(),
            native_trie: FxHashMap::default(),
        }
    }

    /// Forgets a code object that is about to be freed (its address may be reused).
    pub fn forget_code(&mut self, code: usize) {
        if self.codes.remove(&code).is_some() {
            self.frames.clear();
            EPOCH.fetch_add(1, Relaxed);
        }
    }

    /// Forgets every native node (after a library is unloaded: an address may now belong to
    /// another library).
    pub fn forget_native(&mut self) {
        self.native_trie.clear();
        NATIVE_EPOCH.fetch_add(1, Relaxed);
    }

    fn code_id(&mut self, code: *mut c_void, out: &mut RecordEncoder) -> u32 {
        if let Some(e) = self.codes.get(&(code as usize)) {
            return e.id;
        }
        let (function, filename, first_line) = seam::code_info(code);
        let id = out.define_code(&CodeDef {
            function,
            filename,
            first_line,
        });
        self.codes.insert(
            code as usize,
            CodeEntry {
                id,
                lines: FxHashMap::default(),
            },
        );
        id
    }

    /// The line of `code` at `lasti`, cached per code object (a hook never panics: a code
    /// object not interned yet is asked directly).
    fn line(&mut self, code: *mut c_void, lasti: i32) -> u32 {
        match self.codes.get_mut(&(code as usize)) {
            Some(e) => *e
                .lines
                .entry(lasti)
                .or_insert_with(|| seam::code_line(code, lasti)),
            None => seam::code_line(code, lasti),
        }
    }

    /// The node of frame `code` at `word` (see `seam::python_stack`) called from `parent`.
    fn node(&mut self, parent: u32, code: *mut c_void, word: i32, out: &mut RecordEncoder) -> u32 {
        if let Some(&id) = self.frames.get(&(parent, code as usize, word)) {
            return id;
        }
        let code_id = self.code_id(code, out);
        let line = self.line(code, word >> 1);
        let entry = word & 1 != 0;
        // The entry flag rides in the key's line (lines never reach 2^31).
        let key = (parent, code_id, line << 1 | u32::from(entry));
        let id = match self.trie.get(&key) {
            Some(&id) => id,
            None => {
                let id = out.define_node(&StackNode {
                    parent,
                    code: code_id,
                    line,
                    entry,
                });
                self.trie.insert(key, id);
                id
            }
        };
        self.frames.insert((parent, code as usize, word), id);
        id
    }

    /// The native stack id of `cache.ips[..n]` (innermost first), reusing the outer part the
    /// thread's previous native stack shares with it.
    pub fn native_stack_id(
        &mut self,
        cache: &mut ThreadCache,
        n: usize,
        out: &mut RecordEncoder,
    ) -> u32 {
        let epoch = NATIVE_EPOCH.load(Relaxed);
        if cache.native_epoch != epoch {
            cache.native_frames.clear();
            cache.native_epoch = epoch;
        }
        let mut common = 0;
        while common < n
            && common < cache.native_frames.len()
            && cache.native_frames[common].0 == cache.ips[n - 1 - common]
        {
            common += 1;
        }
        cache.native_frames.truncate(common);
        let mut parent = cache.native_frames.last().map_or(0, |f| f.1);
        for depth in common..n {
            let ip = cache.ips[n - 1 - depth];
            parent = match self.native_trie.get(&(parent, ip)) {
                Some(&id) => id,
                None => {
                    let id = out.define_native_node(&NativeNode {
                        parent,
                        ip: ip as u64,
                    });
                    self.native_trie.insert((parent, ip), id);
                    id
                }
            };
            cache.native_frames.push((ip, parent));
        }
        parent
    }

    /// The stack id of the frames in `cache.codes[..n]` (innermost first), reusing the part
    /// the thread's previous stack shares with it.
    pub fn stack_id(&mut self, cache: &mut ThreadCache, n: usize, out: &mut RecordEncoder) -> u32 {
        let epoch = EPOCH.load(Relaxed);
        if cache.epoch != epoch {
            cache.frames.clear();
            cache.epoch = epoch;
        }
        let mut common = 0;
        while common < n && common < cache.frames.len() {
            let (c, l, _) = cache.frames[common];
            let i = n - 1 - common;
            if c != cache.codes[i] as usize || l != cache.words[i] {
                break;
            }
            common += 1;
        }
        cache.frames.truncate(common);
        let mut parent = cache.frames.last().map_or(0, |f| f.2);
        for depth in common..n {
            let i = n - 1 - depth;
            let (code, word) = (cache.codes[i], cache.words[i]);
            parent = self.node(parent, code, word, out);
            cache.frames.push((code as usize, word, parent));
        }
        parent
    }
}
