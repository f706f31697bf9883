//! The text of `memray tree`: the biggest allocation paths of a view as a tree, with sizes and
//! shares; the paths that did not make the cut are folded into one line.

use memray_analysis::snapshot::Aggregate;
use memray_analysis::tree::{CallTree, TreeOptions};
use memray_analysis::Analysis;

use crate::common::human::size_fmt;
use crate::common::terminal::for_terminal;

/// Renders the `biggest` largest groups of the view.
pub fn render(a: &Analysis, groups: &[Aggregate], biggest: usize, color: bool) -> String {
    let total = groups
        .iter()
        .map(|g| g.size)
        .fold(0u64, u64::saturating_add);
    let mut order: Vec<&Aggregate> = groups.iter().collect();
    order.sort_by_key(|g| std::cmp::Reverse(g.size));
    let (shown, rest) = order.split_at(biggest.min(order.len()));
    let shown: Vec<Aggregate> = shown.iter().map(|g| **g).collect();
    let tree = CallTree::build(a, &shown, TreeOptions::default());
    let pct = |b: u64| {
        if total == 0 {
            0.0
        } else {
            b as f64 * 100.0 / total as f64
        }
    };
    let bold = |s: String| {
        if color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s
        }
    };
    let dim = |s: String| {
        if color {
            format!("\x1b[2m{s}\x1b[0m")
        } else {
            s
        }
    };

    let mut out = String::new();
    out.push_str(&bold("Allocation metadata".into()));
    out.push_str("\n-------------------\n");
    out.push_str(&format!(
        "Command line arguments: '{}'\n",
        for_terminal(&a.header.command_line)
    ));
    out.push_str(&format!("Peak memory size: {}\n", size_fmt(a.peak_memory)));
    out.push_str(&format!("Number of allocations: {}\n\n", a.n_allocations));
    out.push_str(&bold(format!("Biggest {biggest} allocations:")));
    out.push_str("\n-----------------------\n");
    out.push_str(&format!("📂 {} (100.00 %) <ROOT>\n", size_fmt(total)));

    // Depth-first, biggest child first; irrelevant frames are skipped (their children are
    // shown in their place).
    fn visible_children(tree: &CallTree, id: u32, out: &mut Vec<u32>) {
        for &c in &tree.nodes[id as usize].children {
            if tree.nodes[c as usize].interesting {
                out.push(c);
            } else {
                visible_children(tree, c, out);
            }
        }
    }
    let mut stack: Vec<(u32, String, bool)> = Vec::new();
    let mut kids = Vec::new();
    visible_children(&tree, 0, &mut kids);
    kids.sort_by_key(|&c| std::cmp::Reverse(tree.nodes[c as usize].bytes));
    let n = kids.len();
    for (i, c) in kids.into_iter().enumerate().rev() {
        stack.push((c, String::new(), i + 1 == n));
    }
    while let Some((id, prefix, last)) = stack.pop() {
        let node = &tree.nodes[id as usize];
        let branch = if last { "└── " } else { "├── " };
        let mut children = Vec::new();
        visible_children(&tree, id, &mut children);
        let icon = if children.is_empty() { "📄" } else { "📂" };
        out.push_str(&format!(
            "{prefix}{branch}{icon} {} ({:.2} %) {}  {}\n",
            size_fmt(node.bytes),
            pct(node.bytes),
            bold(for_terminal(&node.function).into_owned()),
            dim(format!("{}:{}", for_terminal(&node.filename), node.line)),
        ));
        children.sort_by_key(|&c| std::cmp::Reverse(tree.nodes[c as usize].bytes));
        let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
        let n = children.len();
        for (i, c) in children.into_iter().enumerate().rev() {
            stack.push((c, child_prefix.clone(), i + 1 == n));
        }
    }
    if !rest.is_empty() {
        let bytes = rest.iter().map(|g| g.size).fold(0u64, u64::saturating_add);
        let count = rest.iter().map(|g| g.count).fold(0u64, u64::saturating_add);
        out.push_str(&format!(
            "… {} more allocation locations ({}, {:.2} %, {} allocations) below the {} biggest\n",
            rest.len(),
            size_fmt(bytes),
            pct(bytes),
            count,
            biggest
        ));
    }
    out
}
