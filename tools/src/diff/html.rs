//! `memray-diff --format html`: a differential flame graph. The boxes are the new capture's call
//! tree (a box's width is its size after); each box also carries what the same stack held
//! before, and the page colours it by the change: red for growth, blue for shrinkage, grey for
//! none, deeper the larger the change against the box's size. A stack only the base has counts
//! in its closest caller the new capture shares. Same page, same offline conventions as
//! `memray flamegraph`.

use anyhow::Result;
use rustc_hash::FxHashMap;
use serde::Serialize;

use memray_analysis::diff::Measure;
use memray_analysis::snapshot::{aggregate, View};
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::Analysis;

use crate::flamegraph::{data, render_page, MAX_NODES};

/// What the page says of the comparison.
#[derive(Serialize)]
pub struct DiffMeta {
    pub base_path: String,
    pub base_command_line: String,
    pub base_peak_memory: u64,
    pub new_path: String,
}

/// Each node of `tree` (the new capture's): the bytes the base capture's tree held in the same
/// place and not in a matched child (its "own" bytes before). Base nodes are matched by their
/// frame under their parent's match; one without a match counts in that parent's.
pub fn base_own(tree: &CallTree, base: &CallTree) -> Vec<u64> {
    let mut child: FxHashMap<(u32, &str, &str, u32), u32> = FxHashMap::default();
    for (i, n) in tree.nodes.iter().enumerate().skip(1) {
        child.insert((n.parent, &n.function, &n.filename, n.line), i as u32);
    }
    let mut own = vec![0u64; tree.nodes.len()];
    let mut matched = vec![0u32; base.nodes.len()];
    for (j, n) in base.nodes.iter().enumerate() {
        if j > 0 {
            let parent = n.parent as usize;
            let at = if parent < j { matched[parent] } else { 0 };
            matched[j] = child
                .get(&(at, n.function.as_str(), n.filename.as_str(), n.line))
                .copied()
                .unwrap_or(at);
        }
        let below: u64 = n
            .children
            .iter()
            .map(|&c| base.nodes[c as usize].bytes)
            .fold(0u64, u64::saturating_add);
        let slot = &mut own[matched[j] as usize];
        *slot = slot.saturating_add(n.bytes.saturating_sub(below));
    }
    own
}

/// The page comparing `base` and `new` on `measure` (peak, leaks or temporary allocations).
pub fn page(
    base_path: &str,
    base: &Analysis,
    new_path: &str,
    new: &Analysis,
    measure: Measure,
) -> Result<String> {
    let view = match measure {
        Measure::Peak => View::Peak,
        Measure::Leaks => View::Leaks,
        Measure::Temporary => View::Temporary,
        Measure::Allocated => anyhow::bail!(
            "the differential flame graph shows the peak, the leaks or the temporary \
             allocations; compare everything allocated in the text or JSON report"
        ),
    };
    let opts = TreeOptions::default();
    let tree = CallTree::build(new, &aggregate(new, view, true), opts).bounded(MAX_NODES);
    let before = CallTree::build(base, &aggregate(base, view, true), opts);
    let own = base_own(&tree, &before);
    let mut doc = data::build(new, &tree, opts, view, None);
    doc.meta.title = format!("memray diff: {}", doc.meta.view_name);
    doc.meta.diff = Some(serde_json::to_value(DiffMeta {
        base_path: base_path.to_string(),
        base_command_line: base.header.command_line.clone(),
        base_peak_memory: base.peak_memory,
        new_path: new_path.to_string(),
    })?);
    if let Some(nodes) = doc.nodes.as_object_mut() {
        nodes.insert("base_own".into(), serde_json::to_value(own)?);
    }
    Ok(render_page(&serde_json::to_string(&doc)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use memray_analysis::tree::TreeNode;

    fn tree(spec: &[(u32, &str, u64)]) -> CallTree {
        let mut nodes: Vec<TreeNode> = spec
            .iter()
            .map(|&(parent, f, bytes)| TreeNode {
                parent,
                function: f.to_string(),
                filename: "a.py".into(),
                line: 1,
                bytes,
                count: 1,
                thread: 0,
                interesting: true,
                import_system: false,
                children: Vec::new(),
            })
            .collect();
        for i in 1..nodes.len() {
            let p = nodes[i].parent as usize;
            nodes[p].children.push(i as u32);
        }
        CallTree { nodes }
    }

    #[test]
    fn base_bytes_land_on_the_same_stack_or_its_closest_shared_caller() {
        // new: root(30) -> main(30) -> grow(30)
        let new = tree(&[(0, "", 30), (0, "main", 30), (1, "grow", 30)]);
        // base: root(25) -> main(25) -> grow(10), gone(15)
        let base = tree(&[
            (0, "", 25),
            (0, "main", 25),
            (1, "grow", 10),
            (1, "gone", 15),
        ]);
        assert_eq!(base_own(&new, &base), vec![0, 15, 10]);
    }
}
