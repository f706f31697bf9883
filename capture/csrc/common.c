/* The version-independent part of the interpreter seam: the tracker's thread-local words, in
 * the initial-exec TLS model so that reading them never calls into the dynamic loader (and so
 * never into malloc) from inside an allocation hook; reading str and code objects without
 * calling into the interpreter; the allocator's name; and the build/run version check. The
 * parts that read frames live in one file per version family (frames_py*.c). */

#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "seam.h"

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

/* Byte sampling (capture/src/sampling.rs): each thread's countdown of bytes to its next sampled
 * byte, its random generator, and the sampling generation they were drawn for (a thread whose
 * generation is not the current one draws afresh). */
static __thread uint64_t t_sample_left IE;
static __thread uint64_t t_sample_rng IE;
static __thread uint32_t t_sample_gen IE;
uint32_t memray_sample_generation;

/* The fast path of every sampled allocation: 1 when the allocation is not sampled, having
 * taken `size` off the countdown (or when the thread is inside the tracker, whose own
 * allocations are never recorded); 0 when the caller must decide (memray_sample_state). */
int memray_sample_skip(uint64_t size) {
    if (t_guard) return 1;
    if (t_sample_gen == __atomic_load_n(&memray_sample_generation, __ATOMIC_RELAXED)
        && size < t_sample_left) {
        t_sample_left -= size;
        return 1;
    }
    return 0;
}

/* The calling thread's sampling words, for the slow path. */
void memray_sample_state(uint64_t **left, uint64_t **rng, uint32_t **gen) {
    *left = &t_sample_left;
    *rng = &t_sample_rng;
    *gen = &t_sample_gen;
}

/* A str object's characters without calling into the interpreter (which could allocate):
 * returns the data pointer and sets the character width (1, 2 or 4) and length. */
const void *memray_str_data(void *obj, int *kind, Py_ssize_t *len) {
    PyObject *s = (PyObject *)obj;
    if (s == NULL || !PyUnicode_Check(s)) return NULL;
#if PY_VERSION_HEX < 0x030C0000
    if (!PyUnicode_IS_READY(s)) return NULL; /* a legacy string, not yet made canonical */
#endif
    *kind = PyUnicode_KIND(s);
    *len = PyUnicode_GET_LENGTH(s);
    return PyUnicode_DATA(s);
}

void *memray_code_name(void *code) { return ((PyCodeObject *)code)->co_name; }
void *memray_code_filename(void *code) { return ((PyCodeObject *)code)->co_filename; }
int memray_code_firstlineno(void *code) { return ((PyCodeObject *)code)->co_firstlineno; }

PyAPI_FUNC(const char *) _PyMem_GetCurrentAllocatorName(void);
const char *memray_allocator_name(void) { return _PyMem_GetCurrentAllocatorName(); }

/* The "major.minor" this seam was compiled for. */
const char *memray_built_for(void) { return MEMRAY_STR(PY_MAJOR_VERSION) "." MEMRAY_STR(PY_MINOR_VERSION); }

/* 1 when the running interpreter is the major.minor this seam was compiled for. */
int memray_version_matches(void) {
    int major = 0, minor = 0;
    if (sscanf(Py_GetVersion(), "%d.%d", &major, &minor) != 2) return 0;
    return major == PY_MAJOR_VERSION && minor == PY_MINOR_VERSION;
}
