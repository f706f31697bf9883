"""`--native` records deep native stacks whole: a 3,000-deep C recursion (Memray keeps a little
over 2,048 frames; ours keeps up to 65,536)."""

import os
import shutil
import subprocess

import pytest

import memray

from conftest import marks, memray_run, write

DEPTH = 3000

RECURSE_C = r"""
#include <stdlib.h>
/* -O0 and the use of the result after the call keep every level a real frame. */
void *recurse(int n, size_t size) {
    if (n == 0) return malloc(size);
    void *p = recurse(n - 1, size);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}
"""

PROGRAM = """
import ctypes, sys

lib = ctypes.CDLL(sys.argv[1])
lib.recurse.restype = ctypes.c_void_p
lib.recurse.argtypes = [ctypes.c_int, ctypes.c_size_t]


def deep():
    return lib.recurse(%d, 777_001)  # @call


KEEP = deep()
""" % DEPTH


def test_a_3000_deep_native_recursion_is_recorded_whole(tmp_path):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    lib = tmp_path / "librecurse.so"
    src = write(tmp_path / "recurse.c", RECURSE_C)
    proc = subprocess.run([cc, "-shared", "-fPIC", "-O0", "-g", "-fno-omit-frame-pointer",
                           "-o", str(lib), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    script = write(tmp_path / "prog.py", PROGRAM)
    proc = memray_run(["-q", "--native", "-o", "out.bin", "prog.py", lib], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with memray.FileReader(tmp_path / "out.bin") as reader:
        (rec,) = [r for r in reader.get_allocation_records() if r.size == 777_001]
        native = rec.native_stack_trace()
        hybrid = rec.hybrid_stack_trace()
    levels = [f for f in native if f[0] == "recurse"]
    assert len(levels) == DEPTH + 1
    # Whole: the recursion's caller and the Python frames beyond it are there too.
    outer = [(f, line) for f, file, line in hybrid if os.path.basename(file) == "prog.py"]
    assert outer[0] == ("deep", marks(script)["call"]), outer
    assert [f for f, _ in outer] == ["deep", "<module>"], outer
