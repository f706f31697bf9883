//! Library code behind the `memray-*` programs: shared command-line plumbing, output helpers
//! and the report renderers. Each program's `main` is a thin wrapper over this crate.

pub mod args;
pub mod cli;
pub mod dispatch;
pub mod flamegraph;
pub mod html;
pub mod json;
pub mod live;
pub mod output;
pub mod parse;
pub mod progress;
pub mod sizefmt;
pub mod stats_report;
pub mod summary_report;
pub mod table;
pub mod text;
pub mod transform;
pub mod tree_report;
pub mod view;
