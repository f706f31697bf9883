"""--native and the set of loaded objects: libraries loaded and unloaded while tracking are
symbolized with the memory map in effect when their frames were recorded (even when a later
library reuses an unloaded one's addresses), and an object that changed or vanished after the
capture is reported once and shown as addresses, never an error."""

import ctypes  # noqa: F401  (the program uses it; imported here to fail early if missing)
import os
import shutil
import subprocess

import pytest

import memray

from conftest import DEALLOCATORS, assert_ok, marks, program, run, run_python, write

LIB_SOURCE = r"""
#include <stdlib.h>
static void *kept[4];
static int n;
void *NAME_inner(size_t size) {
    return malloc(size); /* @NAME_malloc */
}
void *NAME_alloc(size_t size) {
    void *p = NAME_inner(size); /* @NAME_call */
    kept[n++ & 3] = p;
    return p;
}
"""

PROGRAM = '''
import ctypes, sys, _ctypes
import memray

out, lib_a, lib_b = sys.argv[1:]


def use(path, name, size):
    lib = ctypes.CDLL(path)
    fn = getattr(lib, name + "_alloc")
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_size_t]
    fn(size)  # @py_call
    _ctypes.dlclose(lib._handle)


with memray.Tracker(out, native_traces=True):
    use(lib_a, "liba", 70_001)
    use(lib_b, "libb", 70_003)
    use(lib_a, "liba", 70_005)
'''


def c_marks(path):
    found = {}
    for lineno, line in enumerate(open(path).read().splitlines(), 1):
        if "/* @" in line:
            found[line.split("/* @")[1].split()[0]] = lineno
    return found


def build(directory, name, extra=""):
    src = directory / f"{name}.c"
    src.write_text(LIB_SOURCE.replace("NAME", name) + extra)
    out = directory / f"{name}.so"
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler")
    subprocess.run([gcc, "-g", "-O0", "-fPIC", "-shared", "-Wl,--build-id", "-o", out, src],
                   check=True)
    return src, out


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    src_a, so_a = build(d, "liba")
    src_b, so_b = build(d, "libb")
    prog = write(d / "prog.py", PROGRAM)
    out = d / "out.bin"
    run_python(prog, out, so_a, so_b)
    return d, out, src_a, so_a, src_b, so_b


def allocations(path, size):
    with memray.FileReader(path) as r:
        return [
            (rec.native_stack_trace(), rec.hybrid_stack_trace())
            for rec in r.get_allocation_records()
            if rec.allocator not in DEALLOCATORS and rec.size == size
        ]


def test_libraries_loaded_and_unloaded_while_tracking_keep_their_own_symbols(capture):
    d, out, src_a, _, src_b, _ = capture
    prog_line = marks(d / "prog.py")["py_call"]
    for size, name, src in [(70_001, "liba", src_a), (70_003, "libb", src_b),
                            (70_005, "liba", src_a)]:
        found = allocations(out, size)
        assert len(found) == 1, (size, found)
        native, hybrid = found[0]
        m = c_marks(src)
        assert [(f, os.path.basename(file), line) for f, file, line in native[:2]] == [
            (f"{name}_inner", src.name, m[f"{name}_malloc"]),
            (f"{name}_alloc", src.name, m[f"{name}_call"]),
        ]
        assert [(f, os.path.basename(file)) for f, file, _ in hybrid[:2]] == [
            (f"{name}_inner", src.name), (f"{name}_alloc", src.name)]
        python = [(f, os.path.basename(file), line) for f, file, line in hybrid
                  if file.endswith(".py")]
        assert python[0] == ("use", "prog.py", prog_line)


def test_a_changed_library_is_reported_once_and_shown_as_addresses(capture, tmp_path):
    d, out, src_a, so_a, src_b, so_b = capture
    # A copy of the capture's directory, with liba rebuilt differently (a new build id) and
    # libb deleted.
    moved = tmp_path / "copy.bin"
    shutil.copy(out, moved)
    saved_a, saved_b = so_a.read_bytes(), so_b.read_bytes()
    try:
        build(d, "liba", extra="int liba_changed(void) { return 1; }\n")
        so_b.unlink()
        proc = run([program("memray"), "tree", moved])
        assert_ok(proc)
        warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
        assert sum(str(so_a) in w and "changed" in w for w in warnings) == 1, proc.stderr
        assert sum(str(so_b) in w for w in warnings) == 1, proc.stderr
        # The Python frames still show, and the library's frames are addresses in its file.
        assert "use" in proc.stdout
        native, _ = allocations(moved, 70_001)[0]
        assert native[0][0].startswith("0x") and native[0][1] == str(so_a)
    finally:
        so_a.write_bytes(saved_a)
        so_b.write_bytes(saved_b)
