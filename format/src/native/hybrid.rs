//! Hybrid stacks: a native stack whose interpreter-loop frames are replaced by the Python
//! frames they were running. On CPython 3.11 one `_PyEval_EvalFrameDefault` activation runs an
//! *entry* Python frame and every Python frame it calls without leaving the loop, so each
//! eval-loop frame on the native stack stands for one entry frame and the non-entry frames
//! above it. The two stacks are paired from the outermost frame inwards.

use crate::analysis::definitions::{Definitions, Frame};

/// True for a native frame of the interpreter loop (which stands for Python frames).
pub fn is_eval_frame(function: &str) -> bool {
    function.contains("_PyEval_EvalFrameDefault")
}

/// The hybrid stack of Python stack `stack` and native stack `native_stack`, innermost first.
///
/// `skip` is the number of outermost Python frames to hide (the main thread's frames that
/// belong to whoever started tracking); when it is non-zero, every frame outside the first kept
/// Python frame is hidden too. When the native stack has fewer eval-loop frames than the Python
/// stack needs (an interpreter without symbols), the whole Python stack alone is returned, as
/// Memray does.
pub fn hybrid_frames(
    defs: &Definitions,
    stack: u32,
    native_stack: u32,
    skip: usize,
) -> Vec<Frame<'_>> {
    // Python frames, outermost first, with their entry flags.
    let mut python: Vec<(Frame<'_>, bool)> = Vec::new();
    let mut cur = stack;
    while let Some(node) = defs.node(cur) {
        python.push((defs.frame_of(node), node.entry));
        cur = if node.parent < cur { node.parent } else { 0 };
    }
    python.reverse();
    // Native frames (each address's inlined frames expanded), innermost first, then reversed.
    let mut native: Vec<Frame<'_>> = Vec::new();
    for (id, _) in defs.native_ips(native_stack) {
        for f in defs.native_symbols.frames(id) {
            native.push(Frame {
                function: &f.function,
                filename: &f.filename,
                line: f.line,
            });
        }
    }
    native.reverse();

    let first_kept = (skip > 0 && skip < python.len()).then_some(skip);
    let mut out: Vec<Frame<'_>> = Vec::with_capacity(native.len() + python.len());
    let mut next = 0; // the next Python frame to place, counting from the outermost
    for f in native {
        if next < python.len() && is_eval_frame(f.function) {
            loop {
                if first_kept == Some(next) {
                    out.clear();
                }
                out.push(python[next].0);
                next += 1;
                if next == python.len() || python[next].1 {
                    break;
                }
            }
        } else {
            out.push(f);
        }
    }
    if next < python.len() {
        return python.iter().rev().map(|&(f, _)| f).collect();
    }
    out.reverse();
    out
}
