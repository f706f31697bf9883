/* Native stack unwinding for `--native`, through libunwind's fast local backtrace. Kept in C
 * because libunwind's API names are macros over per-architecture symbols. */

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* Unwind information is cached per thread, so no lock is shared between allocating threads. */
void memray_unwind_init(void) {
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

/* Stores the calling thread's return addresses, innermost first; returns how many. */
int memray_backtrace(void **ips, int max) { return unw_backtrace(ips, max); }

/* Forgets cached unwind information (after a library was unloaded). */
void memray_unwind_flush(void) { unw_flush_cache(unw_local_addr_space, 0, 0); }
