//! `memray transform`: the allocations of one view (peak, leaks or temporary allocations) of a
//! capture, exported for other tools. `csv`, `gprof2dot` and `speedscope` are Memray's formats,
//! byte for byte; `folded` (collapsed stacks) and `pprof` (gzipped `profile.proto`) are ours.
//!
//! Every format walks the same groups (`memray_analysis::snapshot::aggregate`) and the
//! same stacks (`memray_analysis::frames::visible_frames`, Memray's main-thread rule).

pub mod csv;
pub mod folded;
pub mod gprof2dot;
pub mod pprof;
pub mod profile_proto;
pub mod speedscope;

use std::io::Write;

use anyhow::Result;

use memray_analysis::frames::visible_frames;
use memray_analysis::snapshot::{Aggregate, View};
use memray_analysis::{Analysis, Frame};

/// The export formats, in the order `--help` lists them (Memray's first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gprof2dot,
    Csv,
    Speedscope,
    Folded,
    Pprof,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Gprof2dot,
        Format::Csv,
        Format::Speedscope,
        Format::Folded,
        Format::Pprof,
    ];

    /// The format named `name`, in any case (as Memray accepts it).
    pub fn parse(name: &str) -> Option<Format> {
        let lower = name.to_lowercase();
        Self::ALL.into_iter().find(|f| f.name() == lower)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Gprof2dot => "gprof2dot",
            Format::Csv => "csv",
            Format::Speedscope => "speedscope",
            Format::Folded => "folded",
            Format::Pprof => "pprof",
        }
    }

    /// The suffix of the default output file (Memray's `SUFFIX_MAP`, then ours).
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Gprof2dot => ".json",
            Format::Csv => ".csv",
            Format::Speedscope => ".speedscope.json",
            Format::Folded => ".folded",
            Format::Pprof => ".pb.gz",
        }
    }

    /// True for formats that are not text (never written to a terminal).
    pub fn is_binary(self) -> bool {
        self == Format::Pprof
    }

    /// Whether the groups are merged across threads. Memray's transforms only support merged
    /// threads; pprof keeps one sample per thread and labels it with the thread.
    pub fn merge_threads(self) -> bool {
        self != Format::Pprof
    }

    /// `gprof2dot, csv, speedscope, folded, pprof`.
    pub fn list() -> String {
        Self::ALL.map(Format::name).join(", ")
    }
}

/// What is exported: the capture's analysis, the view, and its groups of allocations.
pub struct Export<'a> {
    pub analysis: &'a Analysis,
    pub view: View,
    pub groups: &'a [Aggregate],
}

impl<'a> Export<'a> {
    /// The frames of a group's stack as Memray's `stack_trace()` returns them: innermost
    /// first, without the main thread's hidden outermost frames.
    pub fn frames(&self, g: &Aggregate) -> Vec<Frame<'a>> {
        visible_frames(self.analysis, g.stack, g.native_stack, g.thread)
    }

    /// The thread's last recorded name, or "".
    pub fn thread_name(&self, thread: u32) -> &'a str {
        self.analysis.defs.thread_name(thread).unwrap_or("")
    }
}

/// The frame name collapsed-stack and pprof consumers show for an allocation without any
/// Python frame (so every byte of the view is accounted for).
pub const NO_STACK: &str = "<stack trace unavailable>";

/// Writes `export` in `format` to `out`.
pub fn render(format: Format, export: &Export, out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Csv => csv::render(export, out),
        Format::Gprof2dot => gprof2dot::render(export, out),
        Format::Speedscope => speedscope::render(export, out),
        Format::Folded => folded::render(export, out),
        Format::Pprof => pprof::render(export, out),
    }
}
