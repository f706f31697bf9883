"""``trace_python_allocators``: Python object allocations recorded as PYMALLOC_* at the right
lines, once (no MALLOC twin for the blocks pymalloc hands to malloc)."""

import pytest

from memray import AllocatorType as A

from conftest import Capture, assert_ok, marks, memray_run, run_python, write

PROGRAM = '''
import sys
import memray

out = sys.argv[1]
KEEP = []


def make_list():
    return [None] * 1000  # @list


def grow():
    items = []
    for i in range(2000):
        items.append(i)  # @append
    return items


def big():
    return bytearray(100_000)  # @big


def small():
    return bytearray(99)  # @small


def make_dict():
    return {i: i for i in range(100)}  # @dict


with memray.Tracker(out, trace_python_allocators=True):
    KEEP.append(make_list())
    KEEP.append(grow())
    KEEP.append(big())
    KEEP.append(small())
    KEEP.append(make_dict())
    tmp = bytearray(100_003)  # @temp
    del tmp
'''


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    d = tmp_path_factory.mktemp("pymalloc")
    script = write(d / "prog.py", PROGRAM)
    run_python(script, d / "out.bin")
    return Capture(d / "out.bin"), marks(script)


def test_metadata(result):
    cap, _ = result
    assert cap.metadata.trace_python_allocators is True


def test_list_of_known_length(result):
    cap, m = result
    hits = cap.at(cap.allocs, "make_list", m["list"])
    # The list object itself, then its 1000 item slots (8 bytes each).
    assert (A.PYMALLOC_MALLOC, 8000) in [(A(r.allocator), r.size) for r in hits]
    assert all(A(r.allocator) in (A.PYMALLOC_MALLOC, A.PYMALLOC_CALLOC) for r in hits)


def test_list_growth_is_pymalloc_realloc(result):
    cap, m = result
    hits = cap.at(cap.allocs, "grow", m["append"])
    reallocs = [r for r in hits if r.allocator == A.PYMALLOC_REALLOC]
    assert len(reallocs) >= 5
    # the final capacity holds at least 2000 pointers
    assert max(r.size for r in reallocs) >= 2000 * 8
    # each realloc is preceded by a PYMALLOC_FREE of the old block (when it had one)
    frees = [r for r in cap.frees if r.allocator == A.PYMALLOC_FREE]
    assert frees


def test_large_object_recorded_once_as_pymalloc(result):
    cap, m = result
    hits = cap.at(cap.allocs, "big", m["big"])
    sizes = [(A(r.allocator), r.size) for r in hits]
    # bytearray(n) makes an empty object (56 bytes), then resizes its NULL buffer to n + 1
    # with PyObject_Realloc(NULL, n + 1).
    assert sizes == [(A.PYMALLOC_MALLOC, 56), (A.PYMALLOC_REALLOC, 100_001)]
    # pymalloc passes blocks > 512 bytes on to malloc: that inner malloc is not recorded
    assert cap.sized(cap.records, 100_001) == [hits[1]]
    # realloc of NULL frees nothing
    assert not [r for r in cap.frees if r.address == 0]
    small = [(A(r.allocator), r.size) for r in cap.at(cap.allocs, "small", m["small"])]
    assert small == [(A.PYMALLOC_MALLOC, 56), (A.PYMALLOC_REALLOC, 100)]


def test_temporary_object_freed_as_pymalloc(result):
    cap, m = result
    (rec,) = [r for r in cap.at(cap.allocs, "<module>", m["temp"]) if r.size == 100_004]
    assert rec.allocator == A.PYMALLOC_REALLOC
    frees = [r for r in cap.frees if r.address == rec.address]
    assert frees and frees[0].allocator == A.PYMALLOC_FREE
    assert not [r for r in cap.at(cap.leaks, "<module>", m["temp"]) if r.size >= 100_004]


def test_leaks_hold_the_kept_objects(result):
    cap, m = result
    size, n = cap.group_at(cap.leaks, "big", m["big"])
    assert size >= 100_001 and n >= 1
    size, n = cap.group_at(cap.leaks, "make_list", m["list"])
    assert size >= 8000


def test_memray_run_flag(tmp_path):
    write(tmp_path / "prog.py", """
        KEEP = []
        def f():
            KEEP.append(bytearray(123_456))
        f()
    """)
    assert_ok(memray_run(["-q", "--trace-python-allocators", "-o", "out.bin", "prog.py"],
                         cwd=tmp_path))
    cap = Capture(tmp_path / "out.bin")
    assert cap.metadata.trace_python_allocators is True
    (rec,) = cap.sized(cap.records, 123_457)
    assert rec.allocator == A.PYMALLOC_REALLOC
    assert cap.leaf(rec) == ("f", "prog.py", 3)
    assert cap.group_at(cap.leaks, "f", 3)[0] >= 123_457
