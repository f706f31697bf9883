//! The analyses that watch the replay, one [`Observer`](crate::observer::Observer) each:
//! the size histogram, lifetimes, temporary allocations and temporal peaks. [`for_options`]
//! picks the ones a report asks for.

pub mod lifetimes;
pub mod sizes;
pub mod temporal_peaks;
pub mod temporary;

use crate::observer::Observer;
use crate::replay::ReplayOptions;

/// The observers `opts` asks for.
pub fn for_options(opts: &ReplayOptions) -> Vec<Box<dyn Observer>> {
    let mut out: Vec<Box<dyn Observer>> = Vec::new();
    if opts.size_counts {
        out.push(Box::new(sizes::SizeHistogram::default()));
    }
    if let Some(threshold) = opts.temporary_threshold {
        out.push(Box::new(temporary::TemporaryFinder::new(threshold)));
    }
    if opts.temporal_peaks {
        out.push(Box::new(temporal_peaks::TemporalPeaks::default()));
    }
    if opts.lifetimes {
        out.push(Box::new(lifetimes::Lifetimes::default()));
    }
    out
}
