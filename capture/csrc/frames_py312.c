/* The frame-reading part of the interpreter seam for CPython 3.12 and 3.13, compiled against
 * each one's own internal headers: `_PyInterpreterFrame`s linked from the thread state (through
 * the cframe on 3.12). Every interpreter-loop activation pushes a C-stack shim frame before the
 * first frame it runs, so shims sit inside the chain: they are never shown, and the frame just
 * inside one is an entry frame. Dead code objects are announced by a code watcher. */

#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>

#include "seam.h"

#if PY_VERSION_HEX < 0x030C0000 || PY_VERSION_HEX >= 0x030E0000
#error "frames_py312.c is the CPython 3.12 and 3.13 family"
#endif

#if PY_VERSION_HEX >= 0x030D0000
#define FRAME_CODE(f) _PyFrame_GetCode(f)
#define CURRENT_FRAME(ts) ((ts)->current_frame)
#else
#define FRAME_CODE(f) ((f)->f_code)
#define CURRENT_FRAME(ts) ((ts)->cframe == NULL ? NULL : (ts)->cframe->current_frame)
#endif

static inline int is_shim(_PyInterpreterFrame *f) { return f->owner == FRAME_OWNED_BY_CSTACK; }

int memray_py_stack(void **codes, int *words, int max, int entries) {
    PyThreadState *ts = PyGILState_GetThisThreadState();
    if (ts == NULL) return 0;
    _PyInterpreterFrame *f = CURRENT_FRAME(ts);
    while (f != NULL && is_shim(f)) f = f->previous;
    /* Only the innermost frame can be incomplete (pushed, not yet started): checking the
     * others would read every code object on the stack for nothing. */
    if (f != NULL && _PyFrame_IsIncomplete(f)) f = f->previous;
    int n = 0;
    while (f != NULL) {
        _PyInterpreterFrame *prev = f->previous;
        if (!is_shim(f)) {
            if (n < max) {
                int entry = !entries || prev == NULL || is_shim(prev);
                codes[n] = FRAME_CODE(f);
                words[n] = (_PyInterpreterFrame_LASTI(f) << 1) | entry;
            }
            n++;
        }
        f = prev;
    }
    return n; /* the full depth: more than `max` means the buffers were too small */
}

/* `lasti` is an index in code units. */
int memray_code_line(void *code, int lasti) {
    return PyCode_Addr2Line((PyCodeObject *)code, lasti * (int)sizeof(_Py_CODEUNIT));
}

/* Code watchers are a limited resource (eight per interpreter): when none is free, the code
 * type's deallocator is wrapped instead, as on older versions. */
#define memray_watch_code_deaths memray_watch_code_deaths_by_dealloc
#define memray_unwatch_code_deaths memray_unwatch_code_deaths_by_dealloc
#include "code_deaths_dealloc.h"
#undef memray_watch_code_deaths
#undef memray_unwatch_code_deaths

static int watcher_id = -1;
static void (*watched_cb)(void *);

static int on_code_event(PyCodeEvent event, PyCodeObject *co) {
    void (*cb)(void *) = watched_cb;
    if (event == PY_CODE_EVENT_DESTROY && cb != NULL) cb(co);
    return 0;
}

void memray_watch_code_deaths(void (*cb)(void *)) {
    watched_cb = cb;
    if (watcher_id < 0) watcher_id = PyCode_AddWatcher(on_code_event);
    if (watcher_id < 0) {
        PyErr_Clear();
        memray_watch_code_deaths_by_dealloc(cb);
    }
}

void memray_unwatch_code_deaths(void) {
    watched_cb = NULL;
    if (watcher_id >= 0) {
        if (PyCode_ClearWatcher(watcher_id) < 0) PyErr_Clear();
        watcher_id = -1;
    }
    memray_unwatch_code_deaths_by_dealloc();
}
