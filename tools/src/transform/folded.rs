//! `folded`: collapsed stacks, one line per distinct stack, `root;…;leaf BYTES`, as
//! inferno's and Brendan Gregg's flame graph tools read them. A frame is
//! `function (file:line)`; an allocation without a Python frame is `<stack trace unavailable>`,
//! so the lines add up to every byte of the view. Groups without bytes are left out.
//! `diff-folded` writes two captures' lines side by side ([`write_diff`]).

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;

use memray_analysis::Frame;

use super::{Export, NO_STACK};

/// A frame's name in a collapsed stack: `;` separates frames and a line break ends the line,
/// so neither may appear inside one.
fn frame_name(f: &Frame) -> String {
    format!("{} ({}:{})", f.function, f.filename, f.line)
        .replace(';', ":")
        .replace(['\n', '\r'], " ")
}

/// The lines, in order of first appearance: collapsed stack and bytes (saturating).
pub fn lines(export: &Export) -> Vec<(String, u64)> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut lines: Vec<(String, u64)> = Vec::new();
    for g in export.groups {
        if g.size == 0 {
            continue;
        }
        let frames = export.frames(g);
        let stack = if frames.is_empty() {
            NO_STACK.to_string()
        } else {
            frames
                .iter()
                .rev()
                .map(frame_name)
                .collect::<Vec<_>>()
                .join(";")
        };
        let i = *index.entry(stack.clone()).or_insert_with(|| {
            lines.push((stack, 0));
            lines.len() - 1
        });
        lines[i].1 = lines[i].1.saturating_add(g.size);
    }
    lines
}

/// Writes `lines` as collapsed stacks.
pub fn write(lines: &[(String, u64)], out: &mut dyn Write) -> Result<()> {
    let mut w = std::io::BufWriter::new(out);
    for (stack, bytes) in lines {
        writeln!(w, "{stack} {bytes}")?;
    }
    w.flush()?;
    Ok(())
}

/// Writes two captures' collapsed stacks side by side, `stack BEFORE AFTER`, every stack of
/// either (0 where a capture has none), in order of first appearance in `before` then `after`:
/// `inferno-diff-folded`'s output, which `inferno-flamegraph` draws as a differential graph.
pub fn write_diff(
    before: &[(String, u64)],
    after: &[(String, u64)],
    out: &mut dyn Write,
) -> Result<()> {
    let after_of: HashMap<&str, u64> = after.iter().map(|(s, b)| (s.as_str(), *b)).collect();
    let before_of: HashMap<&str, u64> = before.iter().map(|(s, b)| (s.as_str(), *b)).collect();
    let mut w = std::io::BufWriter::new(out);
    for (stack, bytes) in before {
        let new = after_of.get(stack.as_str()).copied().unwrap_or(0);
        writeln!(w, "{stack} {bytes} {new}")?;
    }
    for (stack, bytes) in after
        .iter()
        .filter(|(s, _)| !before_of.contains_key(s.as_str()))
    {
        writeln!(w, "{stack} 0 {bytes}")?;
    }
    w.flush()?;
    Ok(())
}

pub fn render(export: &Export, out: &mut dyn Write) -> Result<()> {
    write(&lines(export), out)
}
