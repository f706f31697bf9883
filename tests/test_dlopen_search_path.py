"""A library that native code opens by a bare name, found through that code's own RPATH,
RUNPATH or `$ORIGIN`, loads under the tracker exactly as it does bare, and its allocations are
recorded. (The tracker's `dlopen` hook calls the real `dlopen` from the tracker's library, whose
search path is not the caller's.)"""

import shutil
import subprocess

import pytest

from conftest import Capture, marks, memray_run, run_python, write

SHARED_C = r"""
#include <stdlib.h>
void *shared_alloc(size_t n) { return malloc(n); }
"""

LOADER_C = r"""
#include <dlfcn.h>
#include <string.h>
static char error[512];
/* Opens `name` the way an extension would (a bare name: the linker searches this library's own
   path), then mallocs `n` bytes inside it. NULL on failure, with the reason in load_error(). */
void *load_and_alloc(const char *name, size_t n) {
    void *h = dlopen(name, RTLD_NOW);
    if (h == NULL) {
        strncpy(error, dlerror(), sizeof(error) - 1);
        return NULL;
    }
    void *(*f)(size_t) = (void *(*)(size_t))dlsym(h, "shared_alloc");
    return f ? f(n) : NULL;
}
const char *load_error(void) { return error; }
"""

PROGRAM = """
import ctypes, sys
import memray

mode, loader_path, name, out = sys.argv[1:5]
loader = ctypes.CDLL(loader_path)
loader.load_and_alloc.restype = ctypes.c_void_p
loader.load_and_alloc.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
loader.load_error.restype = ctypes.c_char_p


def load():
    return loader.load_and_alloc(name.encode(), 654_321)  # @alloc


if mode == "tracker":
    with memray.Tracker(out):
        p = load()
else:
    p = load()
print("loaded" if p else "failed: " + loader.load_error().decode())
"""

# variant -> linker flags for the loader (the library sits in `deps/` beside the loader, or in
# an unrelated directory named by absolute path)
VARIANTS = {
    "rpath": ["-Wl,--disable-new-dtags", "-Wl,-rpath,{deps}"],
    "runpath": ["-Wl,--enable-new-dtags", "-Wl,-rpath,{deps}"],
    "origin": ["-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/deps"],
    "origin-rpath": ["-Wl,--disable-new-dtags", "-Wl,-rpath,${{ORIGIN}}/deps"],
}


def gcc(*args):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    proc = subprocess.run([cc, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def dynamic_tags(path):
    proc = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


@pytest.fixture(params=sorted(VARIANTS))
def built(request, tmp_path):
    variant = request.param
    deps = tmp_path / "deps"
    deps.mkdir()
    name = f"libmemray_dep_{variant.replace('-', '_')}.so"
    gcc("-shared", "-fPIC", "-O0", "-o", deps / name, write(tmp_path / "shared.c", SHARED_C))
    flags = [f.format(deps=deps) for f in VARIANTS[variant]]
    loader = tmp_path / "libloader.so"
    gcc("-shared", "-fPIC", "-O0", "-o", loader, write(tmp_path / "loader.c", LOADER_C), *flags,
        "-ldl")
    tags = dynamic_tags(loader)
    if tags is not None:  # the loader says what it asks for
        assert ("(RUNPATH)" in tags) == ("new-dtags" in flags[0] and "enable" in flags[0]), tags
    script = write(tmp_path / "prog.py", PROGRAM)
    return variant, tmp_path, loader, name, script


def test_bare_name_loads_as_without_the_tracker(built):
    variant, d, loader, name, script = built
    bare = run_python(script, "bare", loader, name, "-")
    assert bare.stdout == "loaded\n", (variant, bare.stdout)
    tracked = run_python(script, "tracker", loader, name, d / "out.bin")
    assert tracked.stdout == "loaded\n", (variant, tracked.stdout, tracked.stderr)
    cap = Capture(d / "out.bin")
    (rec,) = cap.sized(cap.allocs, 654_321)
    assert cap.leaf(rec) == ("load", "prog.py", marks(script)["alloc"])


def test_bare_name_loads_under_memray_run(built):
    variant, d, loader, name, script = built
    proc = memray_run(["-q", "-o", "run.bin", "prog.py", "bare", loader, name, "-"], cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "loaded\n", (variant, proc.stdout)
    cap = Capture(d / "run.bin")
    assert len(cap.sized(cap.allocs, 654_321)) == 1


def test_a_missing_library_fails_the_same_way(built):
    _, d, loader, _, script = built
    bare = run_python(script, "bare", loader, "libmemray_absent.so", "-")
    tracked = run_python(script, "tracker", loader, "libmemray_absent.so", d / "out.bin")
    assert bare.stdout.startswith("failed: libmemray_absent.so: cannot open shared object file")
    assert tracked.stdout == bare.stdout
