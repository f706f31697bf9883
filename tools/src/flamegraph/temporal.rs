//! The data of a `--temporal` flame graph: the tree holds every location that ever allocated;
//! the page computes node values for the range the user picks from the per-interval data.

use serde_json::json;

use memray_analysis::snapshot::{Aggregate, View};
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::Analysis;

use super::data::{build, Document};

pub fn document(a: &Analysis, opts: TreeOptions, view: View) -> Document {
    // One group per location, so each location's leaf node is known.
    let groups: Vec<Aggregate> = a
        .locations
        .iter()
        .map(|(k, s)| Aggregate {
            thread: k.thread,
            address: s.first_address,
            size: s.total_bytes,
            allocator: k.allocator,
            stack: k.stack,
            native_stack: k.native_stack,
            count: s.total_count,
        })
        .collect();
    let (tree, leaves) = CallTree::build_with_leaves(a, &groups, opts);
    let temporal = if view == View::Leaks {
        let mut per_loc: Vec<Vec<(u32, i64, u64, u64)>> = vec![Vec::new(); groups.len()];
        for l in &a.lifetimes {
            per_loc[l.location as usize].push((
                l.allocated_in,
                l.freed_in.map_or(-1, i64::from),
                l.bytes,
                l.count,
            ));
        }
        let locations: Vec<_> = per_loc
            .into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(i, v)| json!([leaves[i], v]))
            .collect();
        json!({ "kind": "leaks", "intervals": a.snapshots.len() + 1, "locations": locations })
    } else {
        let locations: Vec<_> = a
            .interval_runs
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(i, r)| json!([leaves[i], r]))
            .collect();
        json!({ "kind": "peak", "intervals": a.interval_peaks.len(), "peaks": a.interval_peaks, "locations": locations })
    };
    build(a, &tree, opts, view, Some(temporal))
}
