//! The call tree every tree-shaped report draws (flame graph, `memray-tree`): the aggregated
//! allocations of one view merged frame by frame from the root, optionally one subtree per
//! thread, with the flags the reports filter on.

use rustc_hash::FxHashMap;

use super::frames::{is_cpython_internal, is_import_system, is_irrelevant, visible_frames};
use super::replay::Analysis;
use super::snapshot::Aggregate;

/// One box of the tree. Node 0 is the root (no frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    pub parent: u32,
    /// (function, file, line); empty for the root and for thread nodes.
    pub function: String,
    pub filename: String,
    pub line: u32,
    pub bytes: u64,
    pub count: u64,
    /// The thread this subtree belongs to when split by thread, else 0.
    pub thread: u32,
    /// False for frames `is_irrelevant` names.
    pub interesting: bool,
    /// True from the first import-system frame down.
    pub import_system: bool,
    pub children: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TreeOptions {
    /// One subtree per thread under the root.
    pub split_threads: bool,
    /// Callers under callees: leaves at the top.
    pub inverted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTree {
    pub nodes: Vec<TreeNode>,
}

fn node(parent: u32, function: &str, filename: &str, line: u32, thread: u32) -> TreeNode {
    TreeNode {
        parent,
        function: function.to_string(),
        filename: filename.to_string(),
        line,
        bytes: 0,
        count: 0,
        thread,
        interesting: true,
        import_system: false,
        children: Vec::new(),
    }
}

impl TreeNode {
    /// Counts group `g` in this node (saturating: a node's bytes never exceed its parent's,
    /// whatever the sizes).
    fn add(&mut self, g: &Aggregate) {
        self.bytes = self.bytes.saturating_add(g.size);
        self.count = self.count.saturating_add(g.count);
    }
}

impl CallTree {
    pub fn build(a: &Analysis, groups: &[Aggregate], opts: TreeOptions) -> CallTree {
        Self::build_with_leaves(a, groups, opts).0
    }

    /// Also returns, for each group, the node its allocations are attributed to.
    pub fn build_with_leaves(
        a: &Analysis,
        groups: &[Aggregate],
        opts: TreeOptions,
    ) -> (CallTree, Vec<u32>) {
        let mut leaves = Vec::with_capacity(groups.len());
        let mut nodes = vec![node(0, "", "", 0, 0)];
        let mut index: FxHashMap<(u32, &str, &str, u32), u32> = FxHashMap::default();
        let mut thread_roots: FxHashMap<u32, u32> = FxHashMap::default();
        for g in groups {
            let mut cur = 0u32;
            if opts.split_threads {
                cur = *thread_roots.entry(g.thread).or_insert_with(|| {
                    nodes.push(node(0, "", "", 0, g.thread));
                    let id = nodes.len() as u32 - 1;
                    nodes[0].children.push(id);
                    id
                });
                nodes[cur as usize].add(g);
            }
            nodes[0].add(g);
            let mut frames = visible_frames(a, g.stack, g.native_stack, g.thread);
            // The interpreter's own call machinery is left out of trees (Memray's rule).
            if g.native_stack != 0 {
                frames.retain(|f| !is_cpython_internal(f));
            }
            if !opts.inverted {
                frames.reverse(); // root first
            }
            let thread = if opts.split_threads { g.thread } else { 0 };
            for f in frames {
                let key = (cur, f.function, f.filename, f.line);
                let id = match index.get(&key) {
                    Some(&id) => id,
                    None => {
                        let parent_import = nodes[cur as usize].import_system;
                        let mut n = node(cur, f.function, f.filename, f.line, thread);
                        n.interesting = !is_irrelevant(&f);
                        n.import_system = parent_import || is_import_system(&f);
                        nodes.push(n);
                        let id = nodes.len() as u32 - 1;
                        nodes[cur as usize].children.push(id);
                        index.insert(key, id);
                        id
                    }
                };
                nodes[id as usize].add(g);
                cur = id;
            }
            leaves.push(cur);
        }
        (CallTree { nodes }, leaves)
    }

    pub fn total(&self) -> u64 {
        self.nodes[0].bytes
    }

    /// The tree without the nodes holding fewer than `min_bytes` (their bytes stay counted in
    /// their parent). A node's bytes never exceed its parent's, so what is kept stays a tree.
    pub fn pruned(&self, min_bytes: u64) -> CallTree {
        let mut new_id = vec![u32::MAX; self.nodes.len()];
        let mut nodes: Vec<TreeNode> = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if i != 0 && (n.bytes < min_bytes || new_id[n.parent as usize] == u32::MAX) {
                continue;
            }
            new_id[i] = nodes.len() as u32;
            let mut kept = n.clone();
            kept.parent = if i == 0 { 0 } else { new_id[n.parent as usize] };
            kept.children.clear();
            if i != 0 {
                nodes[kept.parent as usize].children.push(new_id[i]);
            }
            nodes.push(kept);
        }
        CallTree { nodes }
    }

    /// Prunes the smallest nodes until at most `max_nodes` remain (for bounded reports).
    pub fn bounded(self, max_nodes: usize) -> CallTree {
        if self.nodes.len() <= max_nodes {
            return self;
        }
        let mut sizes: Vec<u64> = self.nodes.iter().map(|n| n.bytes).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        // Keeping every node at least as big as the max_nodes-th biggest keeps about
        // max_nodes nodes (more only when many are exactly that size).
        let min = sizes[max_nodes - 1].max(1);
        self.pruned(min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(parent: u32, bytes: u64) -> TreeNode {
        let mut t = node(parent, "f", "a.py", 1, 0);
        t.bytes = bytes;
        t
    }

    #[test]
    fn pruning_keeps_a_tree_and_the_totals() {
        // 0(100) -> 1(60) -> 3(5); 0 -> 2(40) -> 4(39)
        let mut nodes = vec![n(0, 100), n(0, 60), n(0, 40), n(1, 5), n(2, 39)];
        nodes[0].children = vec![1, 2];
        nodes[1].children = vec![3];
        nodes[2].children = vec![4];
        let t = CallTree { nodes };
        let p = t.pruned(10);
        let kept: Vec<(u32, u64)> = p.nodes.iter().map(|n| (n.parent, n.bytes)).collect();
        assert_eq!(kept, vec![(0, 100), (0, 60), (0, 40), (2, 39)]);
        assert_eq!(p.nodes[2].children, vec![3]);
        assert_eq!(t.clone().bounded(3).nodes.len(), 3);
        assert_eq!(t.clone().bounded(10).nodes.len(), 5);
    }
}
