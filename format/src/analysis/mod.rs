//! The analyses every report shares: one pass over the capture's chunks that gathers the
//! dictionaries and replays the allocation events (live set, high-water mark, leaks, totals,
//! memory over time).

pub mod definitions;
pub mod frames;
pub mod functions;
pub mod live;
pub mod modules;
pub mod replay;
pub mod snapshot;
pub mod stats;
pub mod temporal;
pub mod temporary;
pub mod tree;

pub use definitions::{Definitions, Frame};
pub use replay::{Analysis, LocKey, LocStats, ReplayOptions, Snapshot};

use crate::error::Result;
use crate::reader::Capture;

/// Reads the whole capture once and returns the dictionaries and the replay's results.
pub fn analyze(capture: &mut Capture, opts: ReplayOptions) -> Result<Analysis> {
    let mut defs = Definitions::default();
    let mut replay = replay::Replay::new(opts);
    let trailer = capture.for_each_chunk(|mut chunk| {
        defs.absorb(&mut chunk)?;
        replay.feed(&chunk);
        Ok(())
    })?;
    Ok(replay.finish(defs, capture.header().clone(), trailer))
}
