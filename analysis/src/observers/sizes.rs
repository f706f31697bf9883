//! The size histogram: how many allocations were made of each exact size (`mmap` included),
//! for `memray-stats`' distribution and `compute_statistics`.

use std::any::Any;

use rustc_hash::FxHashMap;

use crate::observer::ChunkBatch;
use crate::observer::{Allocation, ChunkContext, ChunkObserver, End, NewChunkObserver, Observer};
use crate::replay::Analysis;

/// Allocations counted by size.
#[derive(Debug, Default)]
pub struct SizeHistogram {
    sizes: FxHashMap<u64, u64>,
}

impl Observer for SizeHistogram {
    fn allocation(&mut self, a: &Allocation<'_>) {
        let n = self.sizes.entry(a.event.size).or_default();
        *n = n.saturating_add(1);
    }

    fn finish(self: Box<Self>, _end: &End<'_>, out: &mut Analysis) {
        out.size_counts = self.sizes;
    }

    fn chunk_observers(&self) -> Option<NewChunkObserver> {
        Some(Box::new(|| Box::new(ChunkSizes::default())))
    }

    fn merge(&mut self, part: Box<dyn Any + Send>, _chunk: &ChunkContext<'_>) {
        if let Ok(sizes) = part.downcast::<FxHashMap<u64, u64>>() {
            for (size, n) in *sizes {
                let total = self.sizes.entry(size).or_default();
                *total = total.saturating_add(n);
            }
        }
    }
}

/// Sizes below this are counted in an array, the others in a map.
const SMALL_SIZES: usize = 4096;

/// One chunk's sizes.
struct ChunkSizes {
    small: Vec<u64>,
    large: FxHashMap<u64, u64>,
}

impl Default for ChunkSizes {
    fn default() -> Self {
        ChunkSizes {
            small: vec![0; SMALL_SIZES],
            large: FxHashMap::default(),
        }
    }
}

impl ChunkObserver for ChunkSizes {
    fn take(&mut self, batch: &ChunkBatch<'_>) {
        for (event, _) in batch.allocations() {
            match self.small.get_mut(event.size as usize) {
                Some(n) => *n = n.saturating_add(1),
                None => {
                    let n = self.large.entry(event.size).or_default();
                    *n = n.saturating_add(1);
                }
            }
        }
    }

    fn done(self: Box<Self>) -> Box<dyn Any + Send> {
        let mut sizes = self.large;
        for (size, &n) in self.small.iter().enumerate() {
            if n > 0 {
                sizes.insert(size as u64, n);
            }
        }
        Box::new(sizes)
    }
}
