/* The frame-reading part of the interpreter seam for CPython 3.9 and 3.10: the thread's chain
 * of `PyFrameObject`s. Every Python frame runs in an interpreter-loop activation of its own, so
 * every frame is an entry frame. */

#include <Python.h>
#include <frameobject.h>

#include "seam.h"

#if PY_VERSION_HEX < 0x03090000 || PY_VERSION_HEX >= 0x030B0000
#error "frames_py39.c is the CPython 3.9 and 3.10 family"
#endif

int memray_py_stack(void **codes, int *words, int max, int entries) {
    (void)entries;
    PyThreadState *ts = PyGILState_GetThisThreadState();
    if (ts == NULL) return 0;
    PyFrameObject *f = ts->frame;
    int n = 0;
    while (f != NULL) {
        if (n < max) {
            codes[n] = f->f_code;
            /* f_lasti is -1 until the frame runs its first instruction. */
            words[n] = (f->f_lasti << 1) | 1;
        }
        n++;
        f = f->f_back;
    }
    return n; /* the full depth: more than `max` means the buffers were too small */
}

/* `lasti` is f_lasti: a byte offset on 3.9, an index in code units on 3.10. */
int memray_code_line(void *code, int lasti) {
    PyCodeObject *co = (PyCodeObject *)code;
    if (lasti < 0) return co->co_firstlineno;
#if PY_VERSION_HEX >= 0x030A0000
    return PyCode_Addr2Line(co, lasti * (int)sizeof(_Py_CODEUNIT));
#else
    return PyCode_Addr2Line(co, lasti);
#endif
}

#include "code_deaths_dealloc.h"
