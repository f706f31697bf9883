/* Code-object deaths through the code type's deallocator, for interpreters without code
 * watchers (before 3.12): the type's tp_dealloc slot is swapped for one that tells `cb` first.
 * Included by the version families that need it. */

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
