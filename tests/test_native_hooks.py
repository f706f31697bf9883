"""Every hooked allocator function, called from native code (a C library compiled for the test
and loaded with ctypes), recorded with the right type, size, address and Python caller."""

import json

import pytest

from memray import AllocatorType as A

from conftest import CLIB_PRELUDE, Capture, marks, run_python, write

PAGE = 4096

PROGRAM = CLIB_PRELUDE + '''
import json, sys
import memray

out, libpath = sys.argv[1], sys.argv[2]
lib = load_clib(libpath)
# Every key exists before tracking starts, so storing a result never grows the dict (the
# interpreter's own allocation would land on the line being checked; dict sizes differ
# between versions).
P = dict.fromkeys("malloc calloc realloc realloc_null posix_memalign aligned_alloc memalign valloc "
                  "pvalloc mmap mmap64 split shrink holes inplace inplace2 zero bad_mmap bad_calloc "
                  "bad_memalign".split())


def exercise():
    P["malloc"] = lib.t_malloc(10_001)  # @malloc
    P["calloc"] = lib.t_calloc(10, 1_003)  # @calloc
    P["realloc"] = lib.t_realloc(P["malloc"], 20_011)  # @realloc
    P["realloc_null"] = lib.t_realloc(None, 21_013)  # @realloc_null
    lib.t_free(P["realloc"])  # @free
    lib.t_free(P["realloc_null"])  # @free2
    lib.t_free(None)  # @free_null
    P["posix_memalign"] = lib.t_posix_memalign(64, 30_013)  # @posix_memalign
    P["aligned_alloc"] = lib.t_aligned_alloc(256, 41_216)  # @aligned_alloc
    P["memalign"] = lib.t_memalign(128, 50_021)  # @memalign
    P["valloc"] = lib.t_valloc(60_029)  # @valloc
    P["pvalloc"] = lib.t_pvalloc(70_001)  # @pvalloc
    P["mmap"] = lib.t_mmap(9 * 4096)  # @mmap
    P["mmap64"] = lib.t_mmap64(11 * 4096)  # @mmap64
    lib.t_munmap(P["mmap64"], 11 * 4096)  # @munmap
    P["split"] = lib.t_mmap(10 * 4096)  # @split
    lib.t_munmap(P["split"] + 3 * 4096, 2 * 4096)  # @munmap_middle
    P["shrink"] = lib.t_mmap(6 * 4096)  # @shrink
    lib.t_munmap(P["shrink"], 4096)  # @munmap_head
    P["holes"] = lib.t_mmap(8 * 4096)  # @holes
    lib.t_munmap(P["holes"] + 2 * 4096, 4 * 4096)  # @munmap_hole
    lib.t_munmap(P["holes"], 8 * 4096)  # @munmap_around
    P["inplace"] = lib.t_malloc(50_000)  # @inplace
    P["inplace2"] = lib.t_realloc(P["inplace"], 40_000)  # @inplace_realloc
    P["zero"] = lib.t_malloc(0)  # @zero
    P["bad_mmap"] = lib.t_mmap(1 << 62)  # @bad_mmap
    P["bad_calloc"] = lib.t_calloc(1 << 62, 16)  # @bad_calloc
    P["bad_memalign"] = lib.t_posix_memalign(3, 1000)  # @bad_memalign


with memray.Tracker(out):
    exercise()  # @call

# After the tracker exits, the hooks are gone: none of this may be recorded.
after = lib.t_malloc(12_345_671)  # @after
lib.t_free(after)
m = lib.t_mmap(13 * 4096)
lib.t_munmap(m, 13 * 4096)
print(json.dumps(P))
'''


@pytest.fixture(scope="module")
def result(tmp_path_factory, clib):
    d = tmp_path_factory.mktemp("hooks")
    script = write(d / "prog.py", PROGRAM)
    proc = run_python(script, d / "out.bin", clib)
    return Capture(d / "out.bin"), marks(script), json.loads(proc.stdout)


CASES = [
    # (mark, pointer key, allocator, size)
    ("malloc", "malloc", A.MALLOC, 10_001),
    ("calloc", "calloc", A.CALLOC, 10_030),
    ("realloc", "realloc", A.REALLOC, 20_011),
    ("realloc_null", "realloc_null", A.REALLOC, 21_013),
    ("posix_memalign", "posix_memalign", A.POSIX_MEMALIGN, 30_013),
    ("aligned_alloc", "aligned_alloc", A.ALIGNED_ALLOC, 41_216),
    ("memalign", "memalign", A.MEMALIGN, 50_021),
    ("valloc", "valloc", A.VALLOC, 60_029),
    ("pvalloc", "pvalloc", A.PVALLOC, 70_001),
    ("mmap", "mmap", A.MMAP, 9 * PAGE),
    ("mmap64", "mmap64", A.MMAP, 11 * PAGE),
    ("split", "split", A.MMAP, 10 * PAGE),
    ("shrink", "shrink", A.MMAP, 6 * PAGE),
    ("holes", "holes", A.MMAP, 8 * PAGE),
    ("inplace", "inplace", A.MALLOC, 50_000),
    ("inplace_realloc", "inplace2", A.REALLOC, 40_000),
    ("zero", "zero", A.MALLOC, 0),
]


@pytest.mark.parametrize("mark, key, allocator, size", CASES, ids=[c[0] for c in CASES])
def test_allocator(result, mark, key, allocator, size):
    cap, m, ptrs = result
    hits = cap.at(cap.allocs, "exercise", m[mark], "prog.py")
    assert [(A(r.allocator), r.size, r.address) for r in hits] == [(allocator, size, ptrs[key])]
    assert cap.short_stack(hits[0])[:2] == [("exercise", "prog.py", m[mark]),
                                      ("<module>", "prog.py", m["call"])]
    assert hits[0].tid == cap.metadata.main_thread_id


def test_failed_allocations_are_not_recorded(result):
    cap, m, ptrs = result
    assert ptrs["bad_mmap"] is None and ptrs["bad_calloc"] is None
    assert ptrs["bad_memalign"] is None
    for mark in ("bad_mmap", "bad_calloc", "bad_memalign"):
        assert cap.at(cap.allocs, "exercise", m[mark]) == []


def test_nothing_else_allocated_by_the_exercise(result):
    cap, m, _ = result
    lines = {cap.leaf(r)[2] for r in cap.at(cap.allocs, "exercise")}
    assert lines == {m[c[0]] for c in CASES}


def _position(cap, record):
    return next(i for i, r in enumerate(cap.records) if r is record)


def test_realloc_is_free_of_old_then_realloc_of_new(result):
    cap, m, ptrs = result
    (old,) = cap.at(cap.allocs, "exercise", m["malloc"])
    (new,) = cap.at(cap.allocs, "exercise", m["realloc"])
    frees = [(i, r) for i, r in enumerate(cap.records)
             if r.allocator == A.FREE and r.address == ptrs["malloc"]]
    assert frees, "realloc did not record the free of the old block"
    i_free = frees[0][0]
    assert _position(cap, old) < i_free < _position(cap, new)
    # realloc(NULL, n) is recorded as a REALLOC and frees nothing
    (rn,) = cap.at(cap.allocs, "exercise", m["realloc_null"])
    prev = cap.records[_position(cap, rn) - 1]
    assert not (prev.allocator == A.FREE and prev.address == 0)


def test_realloc_in_place(result):
    """glibc shrinks a 50,000-byte block in place: FREE(p) must come before REALLOC(p), or the
    block would not be live afterwards."""
    cap, m, ptrs = result
    assert ptrs["inplace"] == ptrs["inplace2"]
    (old,) = cap.at(cap.allocs, "exercise", m["inplace"])
    (new,) = cap.at(cap.allocs, "exercise", m["inplace_realloc"])
    between = cap.records[_position(cap, old) + 1:_position(cap, new)]
    assert [(A(r.allocator), r.address) for r in between if r.address == old.address] == \
        [(A.FREE, old.address)]


def test_free_records_address(result):
    cap, _, ptrs = result
    for key in ("realloc", "realloc_null"):
        frees = [r for r in cap.frees if r.allocator == A.FREE and r.address == ptrs[key]]
        assert len(frees) >= 1, key
        assert frees[0].size == 0
    assert not [r for r in cap.frees if r.address == 0]  # free(NULL) is not recorded


def test_munmap_records_range(result):
    cap, _, ptrs = result
    unmaps = [(r.address, r.size) for r in cap.frees if r.allocator == A.MUNMAP]
    assert (ptrs["mmap64"], 11 * PAGE) in unmaps
    assert (ptrs["split"] + 3 * PAGE, 2 * PAGE) in unmaps
    assert (ptrs["shrink"], PAGE) in unmaps
    assert (ptrs["holes"] + 2 * PAGE, 4 * PAGE) in unmaps
    assert (ptrs["holes"], 8 * PAGE) in unmaps


def test_leaks_with_partial_munmap(result):
    cap, m, _ = result
    leaks = {cap.leaf(r)[2]: (r.size, r.n_allocations) for r in cap.at(cap.leaks, "exercise")}
    assert leaks == {
        m["calloc"]: (10_030, 1),
        m["posix_memalign"]: (30_013, 1),
        m["aligned_alloc"]: (41_216, 1),
        m["memalign"]: (50_021, 1),
        m["valloc"]: (60_029, 1),
        m["pvalloc"]: (70_001, 1),
        m["mmap"]: (9 * PAGE, 1),
        # the middle unmap split the mapping in two pieces: 3 + 5 pages
        m["split"]: (8 * PAGE, 2),
        # the head unmap shrank it
        m["shrink"]: (5 * PAGE, 1),
        # (the 8-page mapping was split, then both pieces unmapped by one call)
        # realloc to a smaller size: the old block is freed, the new one lives
        m["inplace_realloc"]: (40_000, 1),
        m["zero"]: (0, 1),
    }


def test_peak_includes_every_live_block(result):
    cap, m, _ = result
    peak = {cap.leaf(r)[2]: (r.size, r.n_allocations) for r in cap.at(cap.peak, "exercise")}
    # The largest live heap inside exercise() is right after the 10-page mapping is made
    # (before the middle unmap) or at the end: either way, these are live at the peak.
    for mark, size in [("calloc", 10_030), ("posix_memalign", 30_013), ("aligned_alloc", 41_216),
                       ("memalign", 50_021), ("valloc", 60_029), ("pvalloc", 70_001),
                       ("mmap", 9 * PAGE)]:
        assert peak[m[mark]] == (size, 1), mark
    assert m["malloc"] not in peak and m["realloc"] not in peak and m["mmap64"] not in peak


def test_hooks_removed_after_tracker_exit(result):
    cap, m, _ = result
    assert not [r for r in cap.records if r.size in (12_345_671, 13 * PAGE)]
    # ... and nothing at all comes from the module level after the with block.
    assert not [r for r in cap.allocs if cap.leaf(r) and cap.leaf(r)[0] == "<module>"
                and cap.leaf(r)[2] >= m["after"]]


LATE = CLIB_PRELUDE + '''
import sys
import memray

out, out2, libpath, latepath = sys.argv[1:5]
early = load_clib(libpath)
KEEP = []


def before_and_late():
    late = load_clib(latepath)  # @dlopen
    assert late.t_library_id() == b"late"
    KEEP.append(late.t_malloc(77_777))  # @late_malloc
    KEEP.append(late.t_mmap(3 * 4096))  # @late_mmap
    KEEP.append(early.t_calloc(1, 88_888))  # @early_calloc
    return late


with memray.Tracker(out):
    late = before_and_late()

late.t_free(late.t_malloc(99_991))  # not tracked


def second():
    KEEP.append(late.t_malloc(55_555))  # @second


with memray.Tracker(out2):
    second()
'''


def test_library_loaded_after_tracking_started_and_second_tracker(tmp_path, clib, clib2):
    script = write(tmp_path / "late.py", LATE)
    m = marks(script)
    run_python(script, tmp_path / "a.bin", tmp_path / "b.bin", clib, clib2)
    cap = Capture(tmp_path / "a.bin")
    got = {(cap.leaf(r)[2], A(r.allocator), r.size) for r in cap.at(cap.allocs, "before_and_late")
           if r.size in (77_777, 3 * PAGE, 88_888)}
    assert got == {(m["late_malloc"], A.MALLOC, 77_777), (m["late_mmap"], A.MMAP, 3 * PAGE),
                   (m["early_calloc"], A.CALLOC, 88_888)}
    assert not cap.sized(cap.records, 99_991)
    assert not cap.sized(cap.records, 55_555)
    # A second tracker in the same process hooks everything again.
    cap2 = Capture(tmp_path / "b.bin")
    (rec,) = cap2.sized(cap2.allocs, 55_555)
    assert cap2.leaf(rec) == ("second", "late.py", m["second"])
    assert not cap2.sized(cap2.records, 77_777)
