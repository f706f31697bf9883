//! Hybrid stacks: a native stack whose interpreter-loop frames are replaced by the Python
//! frames they were running. On CPython 3.11 one `_PyEval_EvalFrameDefault` activation runs an
//! *entry* Python frame and every Python frame it calls without leaving the loop, so each
//! eval-loop frame on the native stack stands for one entry frame and the non-entry frames
//! above it. The two stacks are paired from the outermost frame inwards.

use crate::definitions::{Definitions, Frame};

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

#[cfg(test)]
mod tests {
    use super::*;
    use memray_format::records::{CodeDef, NativeNode, StackNode};
    use memray_symbolize::{NativeFrame, NativeSymbols};

    /// Python frames outermost first as (name, entry); native functions outermost first.
    fn defs(python: &[(&str, bool)], native: &[&str]) -> (Definitions, u32, u32) {
        let mut d = Definitions::default();
        let mut parent = 0;
        for (i, &(name, entry)) in python.iter().enumerate() {
            d.codes.push(CodeDef {
                function: name.into(),
                filename: "p.py".into(),
                first_line: 1,
            });
            d.nodes.push(StackNode {
                parent,
                code: i as u32,
                line: 10 + i as u32,
                entry,
            });
            parent = d.nodes.len() as u32;
        }
        let mut frames = Vec::new();
        let mut nparent = 0;
        for (i, &name) in native.iter().enumerate() {
            d.native_nodes.push(NativeNode {
                parent: nparent,
                ip: 0x1000 + i as u64,
            });
            nparent = d.native_nodes.len() as u32;
            frames.push(vec![NativeFrame {
                function: name.into(),
                filename: "x.c".into(),
                line: i as u32,
            }]);
        }
        d.native_symbols = NativeSymbols::from_frames(frames);
        (d, parent, nparent)
    }

    fn names(frames: &[Frame<'_>]) -> Vec<String> {
        frames.iter().map(|f| f.function.to_string()).collect()
    }

    const EVAL: &str = "_PyEval_EvalFrameDefault";

    #[test]
    fn one_eval_loop_runs_an_entry_frame_and_the_frames_it_called() {
        let (d, py, nat) = defs(
            &[("<module>", true), ("f", false), ("g", false)],
            &["main", "PyEval_EvalCode", EVAL, "cfunc", "alpha"],
        );
        assert_eq!(
            names(&hybrid_frames(&d, py, nat, 0)),
            [
                "alpha",
                "cfunc",
                "g",
                "f",
                "<module>",
                "PyEval_EvalCode",
                "main"
            ]
        );
    }

    #[test]
    fn each_eval_loop_takes_its_own_entry_frame() {
        let (d, py, nat) = defs(
            &[("a", true), ("b", false), ("c", true), ("d", false)],
            &["main", EVAL, "call_x", EVAL, "leaf"],
        );
        assert_eq!(
            names(&hybrid_frames(&d, py, nat, 0)),
            ["leaf", "d", "c", "call_x", "b", "a", "main"]
        );
    }

    #[test]
    fn the_main_threads_skipped_frames_hide_everything_outside_them() {
        let (d, py, nat) = defs(
            &[("runner", true), ("prog", false), ("work", false)],
            &["main", EVAL, "leaf"],
        );
        assert_eq!(
            names(&hybrid_frames(&d, py, nat, 1)),
            ["leaf", "work", "prog"]
        );
        // Skipping as many frames as there are hides nothing (Memray's rule).
        assert_eq!(names(&hybrid_frames(&d, py, nat, 3)).len(), 5);
    }

    #[test]
    fn without_eval_frames_the_python_stack_is_returned() {
        let (d, py, nat) = defs(&[("a", true), ("b", false)], &["main", "stripped"]);
        assert_eq!(names(&hybrid_frames(&d, py, nat, 1)), ["b", "a"]);
        // A native-only stack (a thread with no Python frames) is all native.
        let (d, _, nat) = defs(&[], &["start_thread", "alpha"]);
        assert_eq!(
            names(&hybrid_frames(&d, 0, nat, 0)),
            ["alpha", "start_thread"]
        );
    }

    #[test]
    fn extra_eval_frames_stay_native() {
        // An eval loop that allocated before its Python frame was pushed.
        let (d, py, nat) = defs(&[("a", true)], &["main", EVAL, "helper", EVAL]);
        assert_eq!(
            names(&hybrid_frames(&d, py, nat, 0)),
            [EVAL, "helper", "a", "main"]
        );
    }
}
