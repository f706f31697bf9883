//! The analyses every report shares: one pass over the capture's chunks that gathers the
//! dictionaries and replays the allocation events (live set, high-water mark, leaks, totals,
//! memory over time), and what reports build from it (hybrid stacks, call trees, statistics,
//! temporal views). Reads captures through `memray-format`; native addresses are resolved by
//! `memray-symbolize`.

mod chunk_pass;
pub mod definitions;
pub mod diff;
pub mod frames;
pub mod functions;
pub mod hybrid;
pub mod live;
pub mod modules;
pub mod observer;
pub mod observers;
pub mod parallel;
pub mod process_set;
pub mod replay;
pub mod snapshot;
pub mod stats;
pub mod temporal_records;
pub mod tree;

pub use definitions::{Definitions, Frame};
pub use replay::{Analysis, LocKey, LocStats, ReplayOptions, Snapshot};

use memray_format::error::Result;
use memray_format::reader::Capture;

/// Reads the whole capture once, its chunks replayed in parallel, and returns the dictionaries
/// and the replay's results.
pub fn analyze(capture: &mut Capture, opts: ReplayOptions) -> Result<Analysis> {
    analyze_with_progress(capture, opts, &mut |_, _| {})
}

/// [`analyze`], telling `progress` how many bytes of the capture it has read (and of how many).
pub fn analyze_with_progress(
    capture: &mut Capture,
    opts: ReplayOptions,
    progress: parallel::Progress<'_>,
) -> Result<Analysis> {
    let (mut defs, replay, trailer) = parallel::replay_capture(capture, opts, progress)?;
    defs.symbolize_native();
    Ok(replay.finish(defs, capture.header().clone(), trailer))
}

/// [`analyze`] on one thread, event after event: the reference the parallel replay matches.
pub fn analyze_sequential(capture: &mut Capture, opts: ReplayOptions) -> Result<Analysis> {
    let mut defs = Definitions::default();
    let mut replay = replay::Replay::new(opts);
    replay.set_sample_every(capture.header().sample_every);
    let trailer = capture.for_each_chunk(|mut chunk| {
        defs.absorb(&mut chunk)?;
        replay.feed(&chunk);
        Ok(())
    })?;
    defs.symbolize_native();
    Ok(replay.finish(defs, capture.header().clone(), trailer))
}
