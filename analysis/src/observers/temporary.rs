//! Temporary allocations (Memray's definition): an allocation is temporary when the same thread
//! frees it before making more than `threshold` other allocations. Each thread remembers its
//! last `threshold + 1` allocations; a free (or an `munmap` of the same length) that matches
//! one of them counts that allocation as temporary.

use std::any::Any;
use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::observer::{Allocation, ChunkContext, ChunkObserver, End, NewChunkObserver, Observer};
use crate::observer::{ChunkBatch, NO_LOCATION};
use crate::replay::{Analysis, LocKey};
use memray_format::records::{AllocatorType, Event};

/// Temporary allocations found at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemporaryAt {
    pub key: LocKey,
    pub bytes: u64,
    pub count: u64,
    /// Address of the first temporary allocation found here.
    pub first_address: u64,
}

pub struct TemporaryFinder {
    window: usize,
    recent: FxHashMap<u32, VecDeque<(u64, u64, LocKey)>>,
    index: FxHashMap<LocKey, usize>,
    found: Vec<TemporaryAt>,
}

/// The most recent of `recent` ((address, size, location), newest first) that deallocation `e`
/// frees: the same address and, for `munmap`, the same length.
#[inline]
fn find_allocation<'a, T: Copy + 'a>(
    recent: impl Iterator<Item = &'a (u64, u64, T)>,
    e: &Event,
) -> Option<(u64, u64, T)> {
    find_match(
        recent,
        e.address,
        e.size,
        e.allocator == AllocatorType::Munmap,
    )
}

#[inline]
fn find_match<'a, T: Copy + 'a>(
    mut recent: impl Iterator<Item = &'a (u64, u64, T)>,
    address: u64,
    size: u64,
    ranged: bool,
) -> Option<(u64, u64, T)> {
    recent
        .find(|(addr, sz, _)| *addr == address && (!ranged || *sz == size))
        .copied()
}

impl TemporaryFinder {
    pub fn new(threshold: usize) -> Self {
        TemporaryFinder {
            window: threshold.saturating_add(1),
            recent: FxHashMap::default(),
            index: FxHashMap::default(),
            found: Vec::new(),
        }
    }

    /// Takes one event (for a finder used on its own).
    #[inline]
    pub fn event(&mut self, e: &Event) {
        if e.allocator.is_deallocator() {
            self.deallocation(e);
        } else {
            self.allocation(e);
        }
    }

    #[inline]
    fn allocation(&mut self, e: &Event) {
        let recent = self.recent.entry(e.thread).or_default();
        recent.push_front((e.address, e.size, LocKey::of(e)));
        recent.truncate(self.window);
    }

    #[inline]
    fn deallocation(&mut self, e: &Event) {
        let recent = self.recent.entry(e.thread).or_default();
        if let Some((address, size, key)) = find_allocation(recent.iter(), e) {
            self.add_found(key, address, size, 1);
        }
    }

    /// Matches a free against the thread's allocations from earlier chunks, for a chunk
    /// replayed on its own: `seen` of the thread's allocations came earlier in that chunk
    /// (none of them matched), so only the latest `window - seen` earlier ones are in reach.
    fn match_earlier(
        &self,
        thread: u32,
        address: u64,
        size: u64,
        ranged: bool,
        seen: usize,
    ) -> Option<(u64, u64, LocKey)> {
        let reach = self.window.saturating_sub(seen);
        find_match(
            self.recent.get(&thread)?.iter().take(reach),
            address,
            size,
            ranged,
        )
    }

    /// Counts `count` temporary allocations of `bytes` at `key`; `address` is the first one's.
    fn add_found(&mut self, key: LocKey, address: u64, bytes: u64, count: u64) {
        let i = *self.index.entry(key).or_insert_with(|| {
            self.found.push(TemporaryAt {
                key,
                bytes: 0,
                count: 0,
                first_address: address,
            });
            self.found.len() - 1
        });
        self.found[i].bytes = self.found[i].bytes.saturating_add(bytes);
        self.found[i].count = self.found[i].count.saturating_add(count);
    }

    /// Puts a chunk's latest allocations of `thread` (newest first, at most a window's worth)
    /// in front of the earlier ones.
    fn push_latest(&mut self, thread: u32, latest: impl Iterator<Item = (u64, u64, LocKey)>) {
        let window = self.window;
        let recent = self.recent.entry(thread).or_default();
        let mut fresh: VecDeque<(u64, u64, LocKey)> = latest.collect();
        fresh.extend(
            recent
                .iter()
                .take(window.saturating_sub(fresh.len()))
                .copied(),
        );
        fresh.truncate(window);
        *recent = fresh;
    }

    /// Locations with temporary allocations, in order of their first one.
    pub fn finish(self) -> Vec<TemporaryAt> {
        self.found
    }
}

impl Observer for TemporaryFinder {
    fn allocation(&mut self, a: &Allocation<'_>) {
        TemporaryFinder::allocation(self, a.event);
    }

    fn free(&mut self, e: &Event) {
        self.deallocation(e);
    }

    fn finish(self: Box<Self>, _end: &End<'_>, out: &mut Analysis) {
        out.temporary = self.found;
    }

    fn chunk_observers(&self) -> Option<NewChunkObserver> {
        let window = self.window;
        Some(Box::new(move || Box::new(ChunkTemporary::new(window))))
    }

    fn merge(&mut self, part: Box<dyn Any + Send>, chunk: &ChunkContext<'_>) {
        let Ok(part) = part.downcast::<ChunkFinds>() else {
            return;
        };
        let mut found = Vec::new();
        for f in &part.finds {
            match *f {
                TempFind::Found {
                    loc,
                    address,
                    bytes,
                    count,
                } => found.push((chunk.key(loc), address, bytes, count)),
                TempFind::Open {
                    thread,
                    address,
                    size,
                    ranged,
                    seen,
                } => {
                    if let Some((a, sz, k)) =
                        self.match_earlier(thread, address, size, ranged, seen)
                    {
                        found.push((k, a, sz, 1));
                    }
                }
            }
        }
        for (k, address, bytes, count) in found {
            self.add_found(k, address, bytes, count);
        }
        for (thread, latest) in part.latest {
            self.push_latest(
                thread,
                latest
                    .into_iter()
                    .map(|(a, sz, loc)| (a, sz, chunk.key(loc))),
            );
        }
    }
}

/// A temporary allocation a chunk found, or a free it could not match on its own.
#[derive(Debug, Clone, Copy)]
enum TempFind {
    /// Allocations at the chunk's location `loc` freed soon after: the first one's address,
    /// the bytes and count of all of them (in the chunk).
    Found {
        loc: u32,
        address: u64,
        bytes: u64,
        count: u64,
    },
    /// A free that may match one of the thread's allocations from earlier chunks; `seen` of
    /// the thread's allocations came earlier in this chunk.
    Open {
        thread: u32,
        address: u64,
        size: u64,
        ranged: bool,
        seen: usize,
    },
}

/// One of a thread's latest allocations: address, size, the chunk's location.
type Recent = (u64, u64, u32);

/// What a chunk found: its finds in order, and per thread its latest allocations (newest
/// first, up to the window).
struct ChunkFinds {
    finds: Vec<TempFind>,
    latest: Vec<(u32, Vec<Recent>)>,
}

/// Temporary allocations within one chunk.
struct ChunkTemporary {
    window: usize,
    recent: FxHashMap<u32, VecDeque<Recent>>,
    /// The chunk's location -> its `Found` in `finds`.
    found: FxHashMap<u32, usize>,
    finds: Vec<TempFind>,
}

impl ChunkTemporary {
    fn new(window: usize) -> Self {
        ChunkTemporary {
            window,
            recent: FxHashMap::default(),
            found: FxHashMap::default(),
            finds: Vec::new(),
        }
    }
}

impl ChunkObserver for ChunkTemporary {
    fn take(&mut self, batch: &ChunkBatch<'_>) {
        for (e, &loc) in batch.events.iter().zip(batch.locs) {
            if loc == NO_LOCATION {
                self.free(e);
            } else {
                self.allocation(e, loc);
            }
        }
    }

    fn done(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(ChunkFinds {
            finds: self.finds,
            latest: self
                .recent
                .into_iter()
                .filter(|(_, r)| !r.is_empty())
                .map(|(t, r)| (t, r.into_iter().collect()))
                .collect(),
        })
    }
}

impl ChunkTemporary {
    #[inline]
    fn allocation(&mut self, e: &Event, loc: u32) {
        let recent = self.recent.entry(e.thread).or_default();
        recent.push_front((e.address, e.size, loc));
        recent.truncate(self.window);
    }

    #[inline]
    fn free(&mut self, e: &Event) {
        let recent = self.recent.entry(e.thread).or_default();
        match find_allocation(recent.iter(), e) {
            Some((address, size, loc)) => {
                let finds = &mut self.finds;
                let i = *self.found.entry(loc).or_insert_with(|| {
                    finds.push(TempFind::Found {
                        loc,
                        address,
                        bytes: 0,
                        count: 0,
                    });
                    finds.len() - 1
                });
                if let TempFind::Found { bytes, count, .. } = &mut finds[i] {
                    *bytes = bytes.saturating_add(size);
                    *count = count.saturating_add(1);
                }
            }
            None if recent.len() < self.window => self.finds.push(TempFind::Open {
                thread: e.thread,
                address: e.address,
                size: e.size,
                ranged: e.allocator == AllocatorType::Munmap,
                seen: recent.len(),
            }),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(allocator: AllocatorType, thread: u32, address: u64, size: u64, stack: u32) -> Event {
        Event {
            allocator,
            thread,
            address,
            size,
            stack,
            native_stack: 0,
        }
    }

    #[test]
    fn counts_frees_within_the_window_on_the_same_thread() {
        use AllocatorType::*;
        let mut f = TemporaryFinder::new(1);
        // Freed at once: temporary.
        f.event(&ev(Malloc, 1, 0x10, 100, 1));
        f.event(&ev(Free, 1, 0x10, 0, 0));
        // One allocation in between: still within threshold 1.
        f.event(&ev(Malloc, 1, 0x20, 200, 2));
        f.event(&ev(Malloc, 1, 0x30, 7, 3));
        f.event(&ev(Free, 1, 0x20, 0, 0));
        // Two in between: not temporary.
        f.event(&ev(Malloc, 1, 0x40, 400, 4));
        f.event(&ev(Malloc, 1, 0x50, 1, 5));
        f.event(&ev(Malloc, 1, 0x60, 1, 5));
        f.event(&ev(Free, 1, 0x40, 0, 0));
        // Freed by another thread: not temporary.
        f.event(&ev(Malloc, 2, 0x70, 700, 6));
        f.event(&ev(Free, 1, 0x70, 0, 0));
        // munmap must match the length.
        f.event(&ev(Mmap, 1, 0x1000, 4096, 7));
        f.event(&ev(Munmap, 1, 0x1000, 100, 0));
        f.event(&ev(Munmap, 1, 0x1000, 4096, 0));
        let found: Vec<(u32, u64, u64)> = f
            .finish()
            .iter()
            .map(|t| (t.key.stack, t.bytes, t.count))
            .collect();
        assert_eq!(found, vec![(1, 100, 1), (2, 200, 1), (7, 4096, 1)]);
    }
}
