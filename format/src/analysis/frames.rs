//! Frame-level rules every report applies the same way: which outer frames of the main thread
//! belong to whoever started tracking (hidden, as Memray does), and which frames are
//! "irrelevant" (the interpreter's `runpy`, the profiler's own) or part of the import system.

use super::definitions::{Definitions, Frame};
use super::replay::Analysis;

/// The frames of `stack` on `thread`, innermost first, without the main thread's outermost
/// frames that belong to the code that started tracking.
pub fn visible_frames<'a>(a: &'a Analysis, stack: u32, thread: u32) -> Vec<Frame<'a>> {
    visible_frames_in(
        &a.defs,
        a.header.main_thread_id,
        a.header.main_thread_skipped_frames,
        stack,
        thread,
    )
}

pub fn visible_frames_in<'a>(
    defs: &'a Definitions,
    main_thread: u32,
    skipped: u32,
    stack: u32,
    thread: u32,
) -> Vec<Frame<'a>> {
    let mut frames: Vec<Frame<'a>> = defs.frames(stack).collect();
    if thread == main_thread {
        let skip = (skipped as usize).min(frames.len());
        frames.truncate(frames.len() - skip);
    }
    frames
}

/// True for frames a reader does not care about: `runpy`'s, and the profiler's own.
pub fn is_irrelevant(f: &Frame<'_>) -> bool {
    let file = f.filename;
    file.ends_with("runpy.py")
        || file == "<frozen runpy>"
        || file.ends_with("/memray/commands/run.py")
        || file.ends_with("/memray/_tracker.py")
}

/// True for frames of the import machinery.
pub fn is_import_system(f: &Frame<'_>) -> bool {
    f.filename.contains("frozen importlib")
        || (matches!(
            f.function,
            "import_name" | "import_from" | "import_all_from"
        ) && f.filename.ends_with("ceval.c"))
}
