//! Frame-level rules every report applies the same way: which outer frames of the main thread
//! belong to whoever started tracking (hidden, as Memray does), hybrid stacks for native
//! captures, and which frames are "irrelevant" (the interpreter's `runpy`, the profiler's own,
//! the interpreter's internal C functions) or part of the import system.

use super::definitions::{Definitions, Frame};
use super::replay::Analysis;
use crate::hybrid::hybrid_frames;

/// The frames of an allocation on `thread`, innermost first, without the main thread's
/// outermost frames that belong to the code that started tracking: the hybrid stack when the
/// allocation has a native stack, else its Python stack.
pub fn visible_frames<'a>(
    a: &'a Analysis,
    stack: u32,
    native_stack: u32,
    thread: u32,
) -> Vec<Frame<'a>> {
    visible_frames_in(
        &a.defs,
        a.header.main_thread_id,
        a.header.main_thread_skipped_frames,
        stack,
        native_stack,
        thread,
    )
}

pub fn visible_frames_in<'a>(
    defs: &'a Definitions,
    main_thread: u32,
    skipped: u32,
    stack: u32,
    native_stack: u32,
    thread: u32,
) -> Vec<Frame<'a>> {
    // (Native stacks not symbolised, as in live mode, show their Python frames.)
    if native_stack != 0 && !defs.native_symbols.is_empty() {
        let skip = if thread == main_thread { skipped } else { 0 };
        return hybrid_frames(defs, stack, native_stack, skip as usize);
    }
    let mut frames: Vec<Frame<'a>> = defs.frames(stack).collect();
    if thread == main_thread {
        let skip = (skipped as usize).min(frames.len());
        frames.truncate(frames.len() - skip);
    }
    frames
}

/// True for frames a reader does not care about: `runpy`'s, the profiler's own, and the
/// interpreter's internal C functions.
pub fn is_irrelevant(f: &Frame<'_>) -> bool {
    let file = f.filename;
    file.ends_with("runpy.py")
        || file == "<frozen runpy>"
        || file.ends_with("/memray/commands/run.py")
        || file.ends_with("/memray/_tracker.py")
        || is_cpython_internal(f)
}

/// Functions of the interpreter's call machinery that are never interesting on their own.
const CALL_MACHINERY: &[&str] = &[
    "PyObject_Call",
    "call_function",
    "classmethoddescr_call",
    "cmpwrapper_call",
    "do_call_core",
    "fast_function",
    "function_call",
    "function_code_fastcall",
    "instance_call",
    "instancemethod_call",
    "methoddescr_call",
    "proxy_call",
    "slot_tp_call",
    "trace_call_function",
    "type_call",
    "weakref_call",
    "wrap_call",
    "wrapper_call",
    "wrapperdescr_call",
];

/// True for a native frame of the interpreter's own evaluation and call machinery (by its
/// name), compiled from the interpreter's sources (by its file): reports of native captures
/// leave these out, as Memray does.
pub fn is_cpython_internal(f: &Frame<'_>) -> bool {
    let name = f.function;
    let candidate = name.contains("PyEval_EvalFrameEx")
        || name.contains("_PyEval_EvalFrameDefault")
        || (name.starts_with("_TAIL_CALL_") && name.contains(".llvm."))
        || name.starts_with("PyEval")
        || name.starts_with("_Py")
        || name.to_ascii_lowercase().contains("vectorcall")
        || CALL_MACHINERY.contains(&name)
        || f.filename.contains("Objects/call.c");
    candidate && is_interpreter_source(f.filename)
}

/// A C source or header under one of the interpreter's source directories.
fn is_interpreter_source(file: &str) -> bool {
    let Some(stem) = file
        .strip_suffix(".c")
        .or_else(|| file.strip_suffix(".h"))
        // Memray's pattern is `\.[c|h]$`, a class that also takes a literal `|`.
        .or_else(|| file.strip_suffix(".|"))
    else {
        return false;
    };
    ["Include", "Objects", "Modules", "Python", "cpython"]
        .iter()
        .any(|dir| stem.contains(dir))
}

/// True for frames of the import machinery.
pub fn is_import_system(f: &Frame<'_>) -> bool {
    f.filename.contains("frozen importlib")
        || (matches!(
            f.function,
            "import_name" | "import_from" | "import_all_from"
        ) && f.filename.ends_with("ceval.c"))
}
