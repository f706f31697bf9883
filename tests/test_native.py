"""--native end to end: a CPython extension module compiled for the test (C, with one C++ file)
allocates through alpha -> beta -> gamma -> [an always-inline helper] -> malloc & co., from
Python functions, from a thread it creates itself, and through C++ ``operator new``; numpy
allocates too. The captures (``memray run --native`` and ``Tracker(native_traces=True)``) must
give exact native stacks (DWARF function, file and line of every call, inlined frames included),
exact hybrid stacks (the interpreter's eval-loop frames replaced by the Python frames they ran),
and the reports must show them as Memray 1.20 does: whole hybrid stacks in tree, flame graph,
summary and transform (trees and flame graphs without the interpreter's call machinery), the
innermost hybrid frame in the table, and Python locations only in stats (Memray's stats never
use native frames). Without --native, nothing native appears.

Expected lines come from ``/* @name */`` tags in the C and C++ sources and ``# @name`` tags in
the Python program: for a return address, each frame reports the line of its call instruction.
"""

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import memray
from memray import AllocatorType as A

from conftest import (
    DEALLOCATORS,
    assert_ok,
    child_env,
    marks,
    memray_run,
    program,
    run,
    run_python,
    stats_json,
    write,
)

# --------------------------------------------------------------------------------------------
# The extension module.

C_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
/* glibc's <math.h> (included by Python.h) declares a gamma() of its own: keep it out of the way */
#define gamma libm_gamma
#include <Python.h>
#undef gamma
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

void *cxx_new_bytes(size_t n); /* nativeext_new.cpp: new char[n] */

#define KEEP 64
static void *kept[KEEP]; /* every block stays alive: the reports' high-water mark shows them */
static int nkept;

/* Inlined into gamma even at -O0: its frame exists only in the DWARF inline information. */
static inline __attribute__((always_inline)) void *pick(int kind) {
    void *p = NULL;
    switch (kind) {
    case 0:
        p = malloc(1000003); /* @malloc */
        break;
    case 1:
        p = calloc(10, 100003); /* @calloc */
        break;
    case 2:
        p = valloc(1200007); /* @valloc */
        break;
    case 3:
        if (posix_memalign(&p, 64, 1300009) != 0) /* @posix_memalign */
            p = NULL;
        break;
    }
    return p;
}

static void *gamma(int kind) {
    if (kind == 4)
        return cxx_new_bytes(1400011); /* @call_cxx */
    if (kind == 5)
        return malloc(1500007); /* @direct_malloc */
    return pick(kind); /* @call_pick */
}

static void *beta(int kind) {
    return gamma(kind); /* @call_gamma */
}

static void *alpha(int kind) {
    return beta(kind); /* @call_beta */
}

static PyObject *ext_run(PyObject *self, PyObject *arg) {
    int kind = (int)PyLong_AsLong(arg);
    void *p = alpha(kind); /* @call_alpha */
    if (p && nkept < KEEP) kept[nkept++] = p;
    return PyLong_FromVoidPtr(p);
}

struct job {
    int kind;
    void *result;
};

static void *thread_main(void *arg) {
    struct job *j = arg;
    j->result = alpha(j->kind); /* @thread_call_alpha */
    return NULL;
}

static PyObject *ext_run_thread(PyObject *self, PyObject *arg) {
    struct job j = {(int)PyLong_AsLong(arg), NULL};
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, &j) != 0)
        return PyErr_Format(PyExc_OSError, "pthread_create failed");
    pthread_join(t, NULL);
    if (j.result && nkept < KEEP) kept[nkept++] = j.result;
    return PyLong_FromVoidPtr(j.result);
}

static PyMethodDef methods[] = {
    {"run", ext_run, METH_O, "alpha(kind) on this thread"},
    {"run_thread", ext_run_thread, METH_O, "alpha(kind) on a new pthread, joined"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "nativeext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_nativeext(void) { return PyModule_Create(&module); }
"""

CXX_SOURCE = r"""
#include <cstddef>

extern "C" void *cxx_new_bytes(std::size_t n) {
    return new char[n]; /* @new */
}
"""

PROGRAM = '''
import sys

import numpy as np

import nativeext

KEEP = []


def call_run(kind):
    KEEP.append(nativeext.run(kind))  # @call_run


def outer(kind):
    call_run(kind)  # @call_outer


def threaded(kind):
    KEEP.append(nativeext.run_thread(kind))  # @call_thread


def make_ones():
    KEEP.append(np.ones(100_000))  # @ones


def main():
    for kind in range(6):
        outer(kind)  # @main_outer
    threaded(0)  # @main_thread
    make_ones()  # @main_ones


if sys.argv[1:2] == ["--tracker"]:
    import memray

    with memray.Tracker(sys.argv[2], native_traces=sys.argv[3] == "native"):
        main()  # @tracker_main
else:
    main()  # @run_main
'''

C = "nativeext.c"
CXX = "nativeext_new.cpp"
PY = "prog.py"

# kind -> (allocator, size, innermost frames above beta: [(function, file, mark)])
KINDS = {
    0: (A.MALLOC, 1_000_003, [("pick", C, "malloc"), ("gamma", C, "call_pick")]),
    1: (A.CALLOC, 1_000_030, [("pick", C, "calloc"), ("gamma", C, "call_pick")]),
    2: (A.VALLOC, 1_200_007, [("pick", C, "valloc"), ("gamma", C, "call_pick")]),
    3: (A.POSIX_MEMALIGN, 1_300_009, [("pick", C, "posix_memalign"), ("gamma", C, "call_pick")]),
    # operator new (libstdc++) calls malloc: the C++ wrapper is the first frame of ours
    4: (A.MALLOC, 1_400_011, [("cxx_new_bytes", CXX, "new"), ("gamma", C, "call_cxx")]),
    5: (A.MALLOC, 1_500_007, [("gamma", C, "direct_malloc")]),
}
ONES_SIZE = 800_000
SIZES = {size for _, size, _ in KINDS.values()} | {ONES_SIZE}
# Frames of the interpreter's call machinery that trees and flame graphs leave out.
CPYTHON_CALL_FRAMES = {
    "_PyEval_EvalFrameDefault",
    "PyObject_Vectorcall",
    "_PyObject_VectorcallTstate",
    "cfunction_vectorcall_O",
    "PyEval_EvalCode",
    "_PyEval_Vector",
}


def c_marks(path: Path) -> dict:
    """``{"name": line}`` for every ``/* @name */`` tag in a C or C++ file."""
    found = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        for name in re.findall(r"/\*\s*@(\w+)\s*\*/", line):
            assert name not in found, f"duplicate mark {name}"
            found[name] = lineno
    return found


def short(frames):
    return [(f, os.path.basename(file), line) for f, file, line in frames]


def is_python_frame(frame):
    file = frame[1]
    return file.endswith(".py") or file.startswith("<frozen ")


# From 3.11 one interpreter-loop activation runs Python-to-Python calls, so a hybrid stack's
# Python frames are contiguous; on 3.9 and 3.10 every Python frame runs in an activation of its
# own, with the interpreter's call machinery (native frames) between consecutive Python frames.
EVAL_LOOP_PER_FRAME = sys.version_info < (3, 11)


def python_run(frames, start, n):
    """The first `n` Python frames of `frames[start:]`, checking that nothing but the
    interpreter's own native frames, and only where every frame has its own loop, lies between
    them."""
    out = []
    for f in frames[start:]:
        if len(out) == n:
            break
        if is_python_frame(f):
            out.append(f)
            continue
        assert EVAL_LOOP_PER_FRAME, f"native frame {f} between Python frames: {frames}"
        assert os.path.basename(f[1]) not in (C, CXX), f"extension frame {f}: {frames}"
    return out


def embedded_json(html: str):
    start = html.index('<script type="application/json" id="memray-data">')
    start = html.index(">", start) + 1
    return json.loads(html[start:html.index("</script>", start)])


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    """The directory holding the compiled ``nativeext`` module, prog.py and the source marks."""
    gcc, gxx = shutil.which("gcc"), shutil.which("g++")
    if gcc is None or gxx is None:
        pytest.skip("gcc and g++ are needed to build the extension module")
    d = tmp_path_factory.mktemp("native")
    c_src = write(d / C, C_SOURCE)
    cxx_src = write(d / CXX, CXX_SOURCE)
    include = sysconfig.get_paths()["include"]
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    steps = [
        [gcc, "-g", "-O0", "-fPIC", "-fno-builtin-gamma", "-I", include, "-c", c_src,
         "-o", d / "nativeext.o"],
        [gxx, "-g", "-O0", "-fPIC", "-c", cxx_src, "-o", d / "nativeext_new.o"],
        [gxx, "-g", "-O0", "-fPIC", "-shared", "-o", d / f"nativeext{suffix}",
         d / "nativeext.o", d / "nativeext_new.o", "-lpthread"],
    ]
    for cmd in steps:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
        assert proc.returncode == 0, f"{cmd}\n{proc.stderr}"
    script = write(d / PY, PROGRAM)
    m = {**c_marks(c_src), **c_marks(cxx_src), **marks(script)}
    return d, m


class Capture:
    """The allocation records of one capture with the sizes the program allocates, with their
    stacks resolved while the reader is open."""

    def __init__(self, path):
        self.path = Path(path)
        with memray.FileReader(self.path) as reader:
            self.metadata = reader.metadata
            self.records = []
            for r in reader.get_allocation_records():
                if r.allocator in DEALLOCATORS or r.size not in SIZES:
                    continue
                self.records.append({
                    "allocator": A(r.allocator),
                    "size": r.size,
                    "tid": r.tid,
                    "python": r.stack_trace(),
                    "native": r.native_stack_trace(),
                    "hybrid": r.hybrid_stack_trace(),
                    "native_1": r.native_stack_trace(max_stacks=1),
                    "native_3": r.native_stack_trace(max_stacks=3),
                    "hybrid_3": r.hybrid_stack_trace(max_stacks=3),
                })

    def main_thread(self, r):
        return r["tid"] == self.metadata.main_thread_id

    def from_gamma(self):
        """Records whose native stack passes through gamma() of the extension."""
        return [r for r in self.records
                if ("gamma", C) in {(f, os.path.basename(file)) for f, file, _ in r["native"]}]

    def one(self, size, main_thread=True):
        hits = [r for r in self.from_gamma()
                if r["size"] == size and self.main_thread(r) == main_thread]
        assert len(hits) == 1, hits
        return hits[0]

    def ones(self):
        hits = [r for r in self.records
                if r["size"] == ONES_SIZE and r["python"] and r["python"][0][0] == "ones"]
        assert len(hits) == 1, hits
        return hits[0]


def _capture(ext, name, native, tracker):
    d, _ = ext
    out = d / f"{name}.bin"
    # numpy's OpenBLAS would start worker threads that map 32 MiB buffers at moments of their
    # own, moving the high-water mark these tests read.
    env = child_env(OPENBLAS_NUM_THREADS=1)
    if tracker:
        run_python(d / PY, "--tracker", out, "native" if native else "plain", env=env)
    else:
        assert_ok(memray_run([*(["--native"] if native else []), "-q", "-o", out, PY], cwd=d,
                             env=env))
    return Capture(out)


@pytest.fixture(scope="module")
def native_run(ext):
    return _capture(ext, "native_run", native=True, tracker=False)


@pytest.fixture(scope="module")
def native_tracker(ext):
    return _capture(ext, "native_tracker", native=True, tracker=True)


@pytest.fixture(scope="module")
def plain_run(ext):
    return _capture(ext, "plain_run", native=False, tracker=False)


@pytest.fixture(scope="module")
def plain_tracker(ext):
    return _capture(ext, "plain_tracker", native=False, tracker=True)


@pytest.fixture(params=["run", "tracker"])
def native(request):
    """Each native capture in turn, with the name of the mode that made it."""
    return request.param, request.getfixturevalue(f"native_{request.param}")


def expected_python(mode, m):
    """The Python stack (basenames) of an allocation made in nativeext.run() from main(),
    without the profiler's own frames."""
    return [
        ("call_run", PY, m["call_run"]),
        ("outer", PY, m["call_outer"]),
        ("main", PY, m["main_outer"]),
        ("<module>", PY, m["run_main" if mode == "run" else "tracker_main"]),
    ]


def native_prefix(kind, m):
    """The exact innermost frames (basenames) of an allocation of ``kind`` made via run()."""
    frames = [(f, file, m[mark]) for f, file, mark in KINDS[kind][2]]
    return frames + [("beta", C, m["call_gamma"]), ("alpha", C, m["call_beta"]),
                     ("ext_run", C, m["call_alpha"])]


# --------------------------------------------------------------------------------------------
# The records and their stacks.


def test_metadata(native_run, native_tracker, plain_run, plain_tracker):
    assert native_run.metadata.has_native_traces is True
    assert native_tracker.metadata.has_native_traces is True
    assert plain_run.metadata.has_native_traces is False
    assert plain_tracker.metadata.has_native_traces is False


def test_every_allocation_of_gamma_with_its_allocator_and_size(native):
    _, cap = native
    got = sorted((r["allocator"].name, r["size"], cap.main_thread(r)) for r in cap.from_gamma())
    want = sorted([(alloc.name, size, True) for alloc, size, _ in KINDS.values()]
                  + [("MALLOC", 1_000_003, False)])
    assert got == want


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_native_stack(native, ext, kind):
    """Starts at the allocator's caller (the inlined helper where there is one) with exact
    lines, and holds no Python frame: the interpreter's own eval-loop frames instead."""
    _, cap = native
    _, m = ext
    _, size, _ = KINDS[kind]
    r = cap.one(size)
    native = short(r["native"])
    want = native_prefix(kind, m)
    if kind == 4:
        # operator new[] / operator new of libstdc++ come first
        ours = native.index(want[0])
        assert ours >= 1 and all(f.startswith("operator new") for f, _, _ in native[:ours]), native
        native = native[ours:]
    assert native[:len(want)] == want
    assert not [f for f in r["native"] if is_python_frame(f)]
    assert "_PyEval_EvalFrameDefault" in [f for f, _, _ in r["native"]]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_hybrid_stack(native, ext, kind):
    """The native frames up to the innermost eval loop, then the Python frames with exact lines
    (and every Python frame of the record, in order), and no eval-loop frame left."""
    mode, cap = native
    _, m = ext
    allocator, size, _ = KINDS[kind]
    r = cap.one(size)
    assert r["allocator"] == allocator
    hybrid = short(r["hybrid"])
    want = native_prefix(kind, m)
    if kind == 4:
        ours = hybrid.index(want[0])
        assert ours >= 1 and all(f.startswith("operator new") for f, _, _ in hybrid[:ours]), hybrid
    else:
        ours = 0
    assert hybrid[ours:ours + len(want)] == want, hybrid
    # Between the extension's frames and the Python ones: exactly the native frames between the
    # allocation and the innermost eval loop (the interpreter's call machinery), in order.
    first_py = next(i for i, f in enumerate(r["hybrid"]) if is_python_frame(f))
    eval_loop = [f for f, _, _ in r["native"]].index("_PyEval_EvalFrameDefault")
    assert r["hybrid"][:first_py] == r["native"][:eval_loop]
    python = expected_python(mode, m)
    assert python_run(hybrid, first_py, len(python)) == python
    # Every Python frame of the record, none other, in the same order.
    assert [f for f in r["hybrid"] if is_python_frame(f)] == r["python"]
    assert short(r["python"])[:len(python)] == python
    assert "_PyEval_EvalFrameDefault" not in [f for f, _, _ in r["hybrid"]]


def test_inlined_frame_sits_between_the_allocator_call_and_gamma(native, ext):
    _, cap = native
    _, m = ext
    for kind, mark in [(0, "malloc"), (1, "calloc"), (2, "valloc"), (3, "posix_memalign")]:
        r = cap.one(KINDS[kind][1])
        for stack in ("native", "hybrid"):
            assert short(r[stack])[:2] == [("pick", C, m[mark]), ("gamma", C, m["call_pick"])], \
                (kind, stack)


def test_operator_new_through_the_cxx_wrapper(native, ext):
    _, cap = native
    _, m = ext
    r = cap.one(1_400_011)
    assert r["allocator"] == A.MALLOC
    names = [f for f, _, _ in r["hybrid"]]
    i = names.index("cxx_new_bytes")
    assert short(r["hybrid"])[i:i + 4] == [
        ("cxx_new_bytes", CXX, m["new"]),
        ("gamma", C, m["call_cxx"]),
        ("beta", C, m["call_gamma"]),
        ("alpha", C, m["call_beta"]),
    ]


def test_thread_created_in_c_has_only_native_frames(native, ext):
    """A pthread started by the extension never ran Python: no Python stack; its hybrid stack
    is its native stack, down to the thread's start function."""
    _, cap = native
    _, m = ext
    r = cap.one(1_000_003, main_thread=False)
    assert r["allocator"] == A.MALLOC
    assert r["python"] == []
    assert short(r["native"])[:5] == [
        ("pick", C, m["malloc"]),
        ("gamma", C, m["call_pick"]),
        ("beta", C, m["call_gamma"]),
        ("alpha", C, m["call_beta"]),
        ("thread_main", C, m["thread_call_alpha"]),
    ]
    assert r["hybrid"] == r["native"]
    assert not [f for f in r["hybrid"] if is_python_frame(f)]


def test_max_stacks(native, ext):
    """Memray counts native ``max_stacks`` in return addresses (an address with inlined frames
    gives them all) and cuts hybrid stacks after merging."""
    _, cap = native
    _, m = ext
    r = cap.one(1_000_030)  # calloc in the inlined pick(): one address, two frames
    assert short(r["native_1"]) == [("pick", C, m["calloc"]), ("gamma", C, m["call_pick"])]
    assert r["native_3"] == r["native"][:4]
    assert r["hybrid_3"] == r["hybrid"][:3]
    r = cap.one(1_500_007)  # malloc straight from gamma(): one frame per address
    assert short(r["native_1"]) == [("gamma", C, m["direct_malloc"])]
    assert r["native_3"] == r["native"][:3]


def _numpy_ones_line():
    np = pytest.importorskip("numpy")
    source, first = inspect.getsourcelines(np.ones)
    calls = [i for i, line in enumerate(source) if re.match(r"\s*a = empty\(", line)]
    assert len(calls) == 1, "numpy.ones() no longer calls empty() once"
    return inspect.getsourcefile(np.ones), first + calls[0]


def test_numpy_ones(native, ext):
    mode, cap = native
    _, m = ext
    numeric, line = _numpy_ones_line()
    r = cap.ones()
    assert (r["allocator"], r["size"]) == (A.MALLOC, ONES_SIZE)
    hybrid = r["hybrid"]
    first_py = next(i for i, f in enumerate(hybrid) if is_python_frame(f))
    numpy_c = hybrid[:first_py]
    assert "_multiarray_umath" in os.path.basename(numpy_c[0][1]), numpy_c
    assert any(f.startswith(("PyArray_", "array_")) and "_multiarray_umath" in file
               for f, file, _ in numpy_c), numpy_c
    func, file, got_line = hybrid[first_py]
    assert func == "ones" and os.path.samefile(file, numeric) and got_line == line
    assert short(python_run(hybrid, first_py + 1, 3)) == [
        ("make_ones", PY, m["ones"]),
        ("main", PY, m["main_ones"]),
        ("<module>", PY, m["run_main" if mode == "run" else "tracker_main"]),
    ]
    assert [f for f in hybrid if is_python_frame(f)] == r["python"]


def test_python_stacks_do_not_depend_on_native_mode(native_run, plain_run, native_tracker,
                                                   plain_tracker):
    for native_cap, plain_cap in [(native_run, plain_run), (native_tracker, plain_tracker)]:
        for _, size, _ in KINDS.values():
            plain = [r for r in plain_cap.records
                     if r["size"] == size and plain_cap.main_thread(r)
                     and r["python"] and r["python"][0][0] == "call_run"]
            assert len(plain) == 1
            assert native_cap.one(size)["python"] == plain[0]["python"]


def test_without_native_there_are_no_native_frames(plain_run, plain_tracker, ext):
    _, m = ext
    for mode, cap in [("run", plain_run), ("tracker", plain_tracker)]:
        assert cap.records
        for r in cap.records:
            assert r["native"] == [] and r["native_1"] == []
            if mode == "tracker":
                assert r["hybrid"] == r["python"]
            else:
                # Memray: without native frames the hybrid stack is the whole Python stack,
                # the profiler's own outer frames included (stack_trace() leaves them out).
                assert r["hybrid"][:len(r["python"])] == r["python"]
                rest = r["hybrid"][len(r["python"]):]
                assert all(f[1].endswith(("memray/commands/run.py", "runpy.py"))
                           or f[1] == "<frozen runpy>" for f in rest), rest
        allocs = [r for r in cap.records
                  if r["python"] and r["python"][0][0] == "call_run"]
        assert sorted((r["allocator"].name, r["size"]) for r in allocs) == \
            sorted((a.name, s) for a, s, _ in KINDS.values())
        for r in allocs:
            assert short(r["python"])[:4] == expected_python(mode, m)
        thread = [r for r in cap.records if not cap.main_thread(r)]
        assert [(r["size"], r["python"], r["hybrid"]) for r in thread] == [(1_000_003, [], [])]


# --------------------------------------------------------------------------------------------
# Reports of the `memray run --native` capture.


def report(cmd, capture, *args):
    proc = run([program("memray"), cmd, *args, capture.path])
    assert_ok(proc)
    return proc.stdout


def _chain(m, leaf):
    """The root-to-leaf frames (basenames) from call_run() down to one allocation of kind 0-3
    (``leaf``: the pick() mark)."""
    return [
        ("call_run", PY, m["call_run"]),
        ("ext_run", C, m["call_alpha"]),
        ("alpha", C, m["call_beta"]),
        ("beta", C, m["call_gamma"]),
        ("gamma", C, m["call_pick"]),
        ("pick", C, m[leaf]),
    ]


def parse_tree(text):
    """Every node of ``memray tree`` output as its root-to-node path of (function, basename,
    line), with its size text."""
    nodes = []
    path = []
    pattern = re.compile(r"(📂|📄) (\S+) \([\d.]+ %\) (.*?)  (.*):(\d+)$")
    for line in text.splitlines():
        hit = pattern.search(line)
        if not hit:
            continue
        depth = hit.start() // 4
        del path[depth - 1:]
        path.append((hit.group(3), os.path.basename(hit.group(4)), int(hit.group(5))))
        nodes.append((list(path), hit.group(2)))
    return nodes


def test_tree(native_run, ext):
    _, m = ext
    text = report("tree", native_run)
    nodes = parse_tree(text)
    assert nodes, text
    for kind, leaf in [(0, "malloc"), (1, "calloc"), (2, "valloc"), (3, "posix_memalign")]:
        chain = _chain(m, leaf)
        hits = [(p, size) for p, size in nodes if p[-len(chain):] == chain]
        assert len(hits) == 1, (kind, [p for p, _ in nodes if p and p[-1][0] == "pick"])
        path = hits[0][0]
        assert path[-len(chain) - 3:-len(chain)] == [
            ("<module>", PY, m["run_main"]), ("main", PY, m["main_outer"]),
            ("outer", PY, m["call_outer"])]
    # straight from gamma, through the C++ wrapper, and on the C thread
    paths = [p for p, _ in nodes]
    assert [("gamma", C, m["direct_malloc"])] in [p[-1:] for p in paths if p[-2:-1] == [
        ("beta", C, m["call_gamma"])]]
    assert any(p[-3:] == [("beta", C, m["call_gamma"]), ("gamma", C, m["call_cxx"]),
                          ("cxx_new_bytes", CXX, m["new"])] for p in paths)
    assert any(p[-5:] == [("thread_main", C, m["thread_call_alpha"]),
                          ("alpha", C, m["call_beta"]), ("beta", C, m["call_gamma"]),
                          ("gamma", C, m["call_pick"]), ("pick", C, m["malloc"])] for p in paths)
    # the interpreter's call machinery is left out
    functions = {f for p in paths for f, _, _ in p}
    assert not functions & CPYTHON_CALL_FRAMES
    assert "_PyEval_EvalFrameDefault" not in text and "PyObject_Vectorcall" not in text


def test_flamegraph(native_run, ext, tmp_path):
    _, m = ext
    out = tmp_path / "flamegraph.html"
    report("flamegraph", native_run, "-f", "-o", out)
    html = out.read_text()
    for name in ("alpha", "beta", "gamma", "pick", "cxx_new_bytes", "thread_main"):
        assert f'"{name}"' in html, name
    doc = embedded_json(html)
    strings, n = doc["strings"], doc["nodes"]

    def path(i):
        out = []
        while i > 0:
            out.append((strings[n["fn"][i]], os.path.basename(strings[n["file"][i]]),
                        n["line"][i]))
            i = n["parent"][i]
        return out[::-1]

    paths = {i: path(i) for i in range(len(n["fn"]))}
    for kind, leaf in [(0, "malloc"), (1, "calloc"), (2, "valloc"), (3, "posix_memalign")]:
        chain = _chain(m, leaf)
        hits = [i for i, p in paths.items() if p[-len(chain):] == chain]
        assert len(hits) == 1, kind
        assert (n["value"][hits[0]], n["n"][hits[0]]) == (KINDS[kind][1], 1)
    functions = {strings[f] for f in n["fn"]}
    assert not functions & CPYTHON_CALL_FRAMES


def table_rows(capture, path, *args):
    report("table", capture, *args, "-f", "-o", path)
    return embedded_json(path.read_text())["rows"]


def rows_at(rows, m, function, file, mark):
    """(allocator, size, count) of the table rows located at ``function at FILE:mark``."""
    out = []
    for r in rows:
        hit = re.fullmatch(r"(.*) at (.*):(\d+)", r["location"])
        if hit and (hit.group(1), os.path.basename(hit.group(2)), int(hit.group(3))) == \
                (function, file, m[mark]):
            out.append((r["allocator"], r["size"], r["n_allocations"]))
    return out


def test_table(native_run, ext, tmp_path):
    """Memray's table shows each allocation's innermost hybrid frame; with threads merged,
    rows with the same allocator and location are one row (Memray 1.20 aggregates them)."""
    _, m = ext
    rows = table_rows(native_run, tmp_path / "table.html")
    assert rows_at(rows, m, "pick", C, "calloc") == [("CALLOC", 1_000_030, 1)]
    assert rows_at(rows, m, "pick", C, "valloc") == [("VALLOC", 1_200_007, 1)]
    assert rows_at(rows, m, "pick", C, "posix_memalign") == [("POSIX_MEMALIGN", 1_300_009, 1)]
    assert rows_at(rows, m, "gamma", C, "direct_malloc") == [("MALLOC", 1_500_007, 1)]
    new = [r for r in rows if r["size"] == 1_400_011]
    assert len(new) == 1 and new[0]["location"].startswith("operator new"), new
    # the main thread's malloc(1000003) and the C thread's have the same top frame: one row
    assert rows_at(rows, m, "pick", C, "malloc") == [("MALLOC", 2_000_006, 2)]


def test_table_split_threads(native_run, ext, tmp_path):
    _, m = ext
    rows = table_rows(native_run, tmp_path / "table.html", "--split-threads")
    assert rows_at(rows, m, "pick", C, "malloc") == [("MALLOC", 1_000_003, 1)] * 2
    threads = [r["thread"] for r in rows if r["size"] == 1_000_003]
    assert len(set(threads)) == 2 and "merged thread" not in threads


def parse_summary(text):
    """{location (without whitespace): (total, own, count)} from ``memray summary``."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip().strip("│").split("┆")]
        if len(cells) != 6 or "Location" in cells[0]:
            continue
        if cells[1]:
            rows.append(cells)
        elif rows:  # a wrapped location
            rows[-1][0] += cells[0]
    return {re.sub(r"\s", "", c[0]): (c[1], c[3], int(c[5])) for c in rows}


def test_summary(native_run, ext):
    d, _ = ext
    rows = parse_summary(report("summary", native_run, "-r", "100000"))

    def row(function, file):
        return rows[re.sub(r"\s", "", f"{function} at {d / file}")]

    # 6 allocations from the main thread and 1 from the C thread: 8,400,070 bytes
    assert row("gamma", C) == ("8.400MB", "1.500MB", 7)
    assert row("beta", C) == ("8.400MB", "0.000B", 7)
    assert row("alpha", C) == ("8.400MB", "0.000B", 7)
    assert row("pick", C) == ("5.500MB", "5.500MB", 5)
    assert row("ext_run", C) == ("7.400MB", "0.000B", 6)
    assert row("thread_main", C) == ("1.000MB", "0.000B", 1)
    assert row("cxx_new_bytes", CXX) == ("1.400MB", "0.000B", 1)


def test_stats(native_run, ext):
    """Memray's stats name Python locations only (native captures included): the C
    allocations count at their Python caller."""
    _, m = ext
    doc, _ = stats_json(native_run.path)
    sizes = {e["location"]: e["size"] for e in doc["top_allocations_by_size"]}
    assert sizes[f"call_run:{PY}:{m['call_run']}"] == sum(s for _, s, _ in KINDS.values())
    assert doc["metadata"]["has_native_traces"] is True


def test_transform_folded(native_run, ext, tmp_path):
    _, m = ext
    out = tmp_path / "out.folded"
    report("transform", native_run, "folded", "-f", "-o", out)
    stacks = {}
    for line in out.read_text().splitlines():
        stack, _, value = line.rpartition(" ")
        frames = []
        for frame in stack.split(";"):
            hit = re.fullmatch(r"(.*) \((.*):(\d+)\)", frame)
            assert hit, frame
            frames.append((hit.group(1), os.path.basename(hit.group(2)), int(hit.group(3))))
        stacks.setdefault(int(value), []).append(frames)
    for kind, leaf in [(0, "malloc"), (1, "calloc"), (2, "valloc"), (3, "posix_memalign")]:
        main = [s for s in stacks[KINDS[kind][1]] if ("call_run", PY, m["call_run"]) in s]
        assert len(main) == 1, kind
        frames = main[0]
        # root -> leaf: the Python functions, the interpreter's call machinery, then ours
        python = [("<module>", PY, m["run_main"]), ("main", PY, m["main_outer"]),
                  ("outer", PY, m["call_outer"]), ("call_run", PY, m["call_run"])]
        i = frames.index(python[0])
        assert python_run(frames, i, 4) == python
        assert frames[-5:] == _chain(m, leaf)[1:]
    (thread,) = [s for s in stacks[1_000_003] if ("call_run", PY, m["call_run"]) not in s]
    assert thread[-5:] == [("thread_main", C, m["thread_call_alpha"]),
                           ("alpha", C, m["call_beta"]), ("beta", C, m["call_gamma"]),
                           ("gamma", C, m["call_pick"]), ("pick", C, m["malloc"])]


def test_transform_csv(native_run, ext, tmp_path):
    """Memray's csv: one row per stack, its hybrid stack innermost first as func;file;line|..."""
    import csv

    _, m = ext
    out = tmp_path / "out.csv"
    report("transform", native_run, "csv", "-f", "-o", out)
    rows = list(csv.DictReader(out.read_text().splitlines()))
    for kind, (allocator, size, _) in KINDS.items():
        hits = [r for r in rows if int(r["size"]) == size and "call_run;" in r["stack_trace"]]
        assert len(hits) == 1, kind
        r = hits[0]
        assert (r["allocator"], r["num_allocations"]) == (allocator.name, "1")
        frames = [tuple(f.rsplit(";", 2)) for f in r["stack_trace"].split("|")]
        frames = [(f, os.path.basename(file), int(line)) for f, file, line in frames]
        want = native_prefix(kind, m)
        start = frames.index(want[0])
        assert frames[start:start + len(want)] == want
        first_py = frames.index(("call_run", PY, m["call_run"]))
        assert python_run(frames, first_py, 4) == expected_python("run", m)
