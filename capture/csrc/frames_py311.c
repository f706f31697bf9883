/* The frame-reading part of the interpreter seam for CPython 3.11, compiled against its own
 * internal headers: `_PyInterpreterFrame`s linked from the thread's cframe, each with its own
 * entry-frame flag. */

#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>

#include "seam.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "frames_py311.c is the CPython 3.11 family"
#endif

int memray_py_stack(void **codes, int *words, int max, int entries) {
    PyThreadState *ts = PyGILState_GetThisThreadState();
    if (ts == NULL || ts->cframe == NULL) return 0;
    _PyInterpreterFrame *f = ts->cframe->current_frame;
    int n = 0;
    /* Only the innermost frame can be incomplete (pushed, not yet started): checking the
     * others would read every code object on the stack for nothing. */
    if (f != NULL && _PyFrame_IsIncomplete(f)) f = f->previous;
    while (f != NULL) {
        if (n < max) {
            codes[n] = f->f_code;
            words[n] = (_PyInterpreterFrame_LASTI(f) << 1) | (entries ? f->is_entry : 1);
        }
        n++;
        f = f->previous;
    }
    return n; /* the full depth: more than `max` means the buffers were too small */
}

/* `lasti` is an index in code units. */
int memray_code_line(void *code, int lasti) {
    return PyCode_Addr2Line((PyCodeObject *)code, lasti * (int)sizeof(_Py_CODEUNIT));
}

#include "code_deaths_dealloc.h"
