/* The interpreter-version seam for CPython 3.11: everything that reads the interpreter's
 * private structures lives here, compiled against 3.11's own internal headers. Also holds the
 * tracker's thread-local words, in the initial-exec TLS model so that reading them never calls
 * into the dynamic loader (and so never into malloc) from inside an allocation hook. */

#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_pymem.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#error "python311.c is the CPython 3.11 seam; add a module for this interpreter version"
#endif

#define IE __attribute__((tls_model("initial-exec")))

static __thread int t_guard IE;
static __thread uint32_t t_tid IE;
static __thread void *t_state IE;

int memray_guard_enter(void) {
    if (t_guard) return 0;
    t_guard = 1;
    return 1;
}
void memray_guard_exit(void) { t_guard = 0; }
int memray_guard_active(void) { return t_guard; }
uint32_t memray_tls_tid(void) { return t_tid; }
void memray_set_tls_tid(uint32_t tid) { t_tid = tid; }
void *memray_tls_state(void) { return t_state; }
void memray_set_tls_state(void *p) { t_state = p; }

/* Walks the calling thread's Python frames, innermost first, storing each frame's code object
 * and a word holding the index of its last executed instruction times two, plus one for an
 * entry frame (the first frame an interpreter-loop activation ran; every frame counts as one
 * unless `entries` is set). At most `max` frames are stored; returns the depth. Safe without
 * the GIL: only the calling thread changes its own frame chain, and every linked frame holds a
 * reference to its code. */
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

/* The line executing at instruction index `lasti` of `code`. */
int memray_code_line(void *code, int lasti) {
    return PyCode_Addr2Line((PyCodeObject *)code, lasti * (int)sizeof(_Py_CODEUNIT));
}

/* A str object's characters without calling into the interpreter (which could allocate):
 * returns the data pointer and sets the character width (1, 2 or 4) and length. */
const void *memray_str_data(void *obj, int *kind, Py_ssize_t *len) {
    PyObject *s = (PyObject *)obj;
    if (s == NULL || !PyUnicode_Check(s) || !PyUnicode_IS_READY(s)) return NULL;
    *kind = PyUnicode_KIND(s);
    *len = PyUnicode_GET_LENGTH(s);
    return PyUnicode_DATA(s);
}

void *memray_code_name(void *code) { return ((PyCodeObject *)code)->co_name; }
void *memray_code_filename(void *code) { return ((PyCodeObject *)code)->co_filename; }
int memray_code_firstlineno(void *code) { return ((PyCodeObject *)code)->co_firstlineno; }

const char *memray_allocator_name(void) { return _PyMem_GetCurrentAllocatorName(); }

/* Code-object deaths: while installed, `cb` hears of every code object about to be freed, so
 * caches keyed by a code object's address never outlive it. Called with the GIL held. */
static destructor original_code_dealloc;
static void (*code_death_cb)(void *);

static void code_dealloc_hook(PyObject *code) {
    void (*cb)(void *) = code_death_cb;
    if (cb != NULL) cb(code);
    original_code_dealloc(code);
}

void memray_watch_code_deaths(void (*cb)(void *)) {
    if (original_code_dealloc == NULL) original_code_dealloc = PyCode_Type.tp_dealloc;
    code_death_cb = cb;
    PyCode_Type.tp_dealloc = code_dealloc_hook;
}

void memray_unwatch_code_deaths(void) {
    if (original_code_dealloc != NULL) PyCode_Type.tp_dealloc = original_code_dealloc;
    code_death_cb = NULL;
}
