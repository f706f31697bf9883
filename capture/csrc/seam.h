/* What every version family of the interpreter seam provides (see common.c and frames_py*.c),
 * as the Rust side (src/seam.rs) declares it. */
#ifndef MEMRAY_SEAM_H
#define MEMRAY_SEAM_H

#define MEMRAY_STR_(x) #x
#define MEMRAY_STR(x) MEMRAY_STR_(x)

/* Walks the calling thread's Python frames, innermost first, storing each frame's code object
 * and a word holding the frame's instruction offset (in the family's own unit) times two, plus
 * one for an entry frame: the first frame an interpreter-loop activation ran. Every frame counts
 * as an entry frame unless `entries` is set. Stores at most `max` frames; returns the depth. Safe
 * without the GIL: only the calling thread changes its own frame chain, and every linked frame
 * holds a reference to its code. */
int memray_py_stack(void **codes, int *words, int max, int entries);

/* The line executing at instruction offset `lasti` (as stored by memray_py_stack) of `code`. */
int memray_code_line(void *code, int lasti);

/* Code-object deaths: while installed, `cb` hears of every code object about to be freed, so
 * caches keyed by a code object's address never outlive it. Called with the GIL held. */
void memray_watch_code_deaths(void (*cb)(void *));
void memray_unwatch_code_deaths(void);

#endif
