/* The `dlopen` hook's entry point, in C for `__builtin_return_address`: the dynamic linker
 * resolves a bare library name with the search path of the object that called `dlopen`, so the
 * hook must know that caller (src/dlopen_path.rs) instead of letting the real `dlopen` see the
 * tracker as its caller. */

void *memray_dlopen_from(const char *name, int flags, void *caller);

void *memray_dlopen_hook(const char *name, int flags) {
    return memray_dlopen_from(name, flags,
                              __builtin_extract_return_addr(__builtin_return_address(0)));
}
