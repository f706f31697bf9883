//! Coverage-guided fuzz targets for every decoder that reads bytes another process wrote, and
//! what they share. Each target is a plain function of the input bytes: libFuzzer's programs
//! (`fuzz_targets/`, built by `make fuzz`) call it, and `tests/replay.rs` calls it on every
//! input of the corpus and of the crashers found so far, so `make test` replays them all.
//!
//! - [`targets`] the targets, one function each, and [`TARGETS`] their names;
//! - [`checksums`] rewrites the CRC-32s of a mutated capture, so mutations reach the decoders
//!   behind the checksums instead of stopping at them;
//! - [`reports`] runs every report of the command-line programs over an analysis;
//! - [`seeds`] turns real captures into each target's seed inputs.

pub mod checksums;
pub mod reports;
pub mod seeds;
pub mod targets;

/// A fuzz target: a function of the input bytes.
pub type Target = fn(&[u8]);

/// Every target, by name (the name of its corpus folder and of its program `fuzz-<name>`).
pub const TARGETS: [(&str, Target); 6] = [
    ("file", targets::file),
    ("tail", targets::tail),
    ("records", targets::records),
    ("aggregate", targets::aggregate),
    ("live", targets::live),
    ("report", targets::report),
];
