//! Library code behind the `memray-*` programs, one module per program — its command line
//! (`args.rs`), its renderers and templates, and its `main` — with what several programs share
//! in [`common`]. Each `src/bin/<program>.rs` is a thin `main` over its module; [`man`] lists
//! every program's command line for the man pages, [`completions`] turns them into shell
//! completions.
//!
//! | module | program |
//! |---|---|
//! | [`memray`] | `memray`, the dispatcher |
//! | [`capture`] | `memray-capture` (`memray run`) |
//! | [`diff`] | `memray-diff` |
//! | [`flamegraph`] | `memray-flamegraph` |
//! | [`live`] | `memray-live` (and the view of `memray run --live`) |
//! | [`parse`] | `memray-parse` |
//! | [`stats`] | `memray-stats` |
//! | [`summary`] | `memray-summary` |
//! | [`table`] | `memray-table` |
//! | [`transform`] | `memray-transform` |
//! | [`tree`] | `memray-tree` |

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod capture;
pub mod common;
pub mod completions;
pub mod diff;
pub mod flamegraph;
pub mod live;
pub mod man;
pub mod memray;
pub mod parse;
pub mod stats;
pub mod summary;
pub mod table;
pub mod transform;
pub mod tree;
