"""The hooks change nothing the program can see: `errno` after every hooked call, and `dlerror`
after a failed `dlopen`, are what they are without the tracker."""

import shutil
import subprocess

import pytest

from conftest import run_python, write

PROBE_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* errno as each hooked call leaves it, written into `out` as text. */
void probe(char *out, size_t n) {
    int e[8];
    errno = 4242; void *p = malloc(1000); e[0] = errno;
    errno = 4242; free(p); e[1] = errno;
    errno = 4242; p = malloc(SIZE_MAX / 2); e[2] = errno;
    errno = 4242; p = calloc(10, 10); e[3] = errno; free(p);
    errno = 4242; p = realloc(NULL, SIZE_MAX / 2); e[4] = errno;
    errno = 4242; p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); e[5] = errno;
    errno = 4242; munmap(p, 4096); e[6] = errno;
    errno = 4242; void *h = dlopen("libmemray_no_such_library.so", RTLD_NOW); e[7] = errno;
    const char *err = dlerror();
    snprintf(out, n, "%d %d %d %d %d %d %d %d | %s | %s", e[0], e[1], e[2], e[3], e[4], e[5],
             e[6], e[7], h ? "loaded" : "failed", err ? err : "-");
}
"""

PROGRAM = """
import ctypes, sys
import memray

lib = ctypes.CDLL(sys.argv[1])
buf = ctypes.create_string_buffer(1024)
if sys.argv[2] == "bare":
    lib.probe(buf, 1024)
else:
    with memray.Tracker(sys.argv[2]):
        lib.probe(buf, 1024)
print(buf.value.decode())
"""


def test_errno_and_dlerror_are_as_without_the_tracker(tmp_path):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = write(tmp_path / "probe.c", PROBE_C)
    lib = tmp_path / "libprobe.so"
    proc = subprocess.run([cc, "-shared", "-fPIC", "-O0", "-o", str(lib), str(src), "-ldl"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    script = write(tmp_path / "prog.py", PROGRAM)
    bare = run_python(script, lib, "bare").stdout
    tracked = run_python(script, lib, tmp_path / "out.bin").stdout
    assert "libmemray_no_such_library.so: cannot open shared object file" in bare
    assert tracked == bare
