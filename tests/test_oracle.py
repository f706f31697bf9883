"""The shared correctness oracle (../shared/bench/workloads/oracle.py) under ``memray run``:
the exact figures its docstring lists, with and without ``--trace-python-allocators``."""

import shutil

import pytest

from memray import AllocatorType as A

from conftest import ORACLE, Capture, assert_ok, child_env, memray_run, stats_counts, stats_json, \
    stats_locations

KiB, MiB = 1024, 1024 * 1024
FILE = "oracle.py"

# Lines of the oracle's allocation calls, as its docstring lists them.
LINES = {"f_alloc_1mib": 57, "g_leak": 62, "h_temp": 67, "c_calloc": 72, "r_malloc": 77,
         "r_realloc": 78, "k_chunk": 83, "k_peak_call": 89}


def _run(tmp_path_factory, *flags):
    if not ORACLE.exists():
        pytest.skip(f"{ORACLE} not found")
    d = tmp_path_factory.mktemp("oracle")
    shutil.copy(ORACLE, d / FILE)
    src = (d / FILE).read_text().splitlines()
    for key, line in LINES.items():
        assert "malloc" in src[line - 1] or "calloc" in src[line - 1] \
            or "realloc" in src[line - 1] or "k_chunk()" in src[line - 1], (key, src[line - 1])
    proc = memray_run(["-q", *flags, "-o", "out.bin", FILE], cwd=d,
                      env=child_env(ORACLE_BACKEND="raw"))
    assert_ok(proc)
    assert proc.stdout == "" and proc.stderr == ""
    return Capture(d / "out.bin"), d


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _run(tmp_path_factory)


@pytest.fixture(scope="module")
def pymalloc(tmp_path_factory):
    return _run(tmp_path_factory, "--trace-python-allocators")


def _oracle_groups(cap, records):
    """{function: (bytes, allocations)} over the records whose leaf frame is in oracle.py."""
    out = {}
    for r in records:
        leaf = cap.leaf(r)
        if leaf is None or leaf[1] != FILE or leaf[0] == "<module>":
            continue
        size, n = out.get(leaf[0], (0, 0))
        out[leaf[0]] = (size + r.size, n + r.n_allocations)
    return out


def _check_groups(mode, groups, expected):
    """Exact for plain captures. With --trace-python-allocators the oracle's Python objects
    (the ints ctypes returns, ...) are recorded too and fall into the same stack groups: the
    oracle's blocks must still all be there, plus only small (pymalloc-sized) objects."""
    if mode == "plain":
        assert groups == expected
        return
    groups = {f: g for f, g in groups.items() if f in expected or g[0] > 4096}
    assert sorted(groups) == sorted(expected)
    for func, (size, n) in expected.items():
        got_size, got_n = groups[func]
        extra_n, extra_size = got_n - n, got_size - size
        assert extra_n >= 0 and 0 <= extra_size <= 512 * extra_n, (func, groups[func], (size, n))


@pytest.mark.parametrize("mode", ["plain", "pymalloc"])
def test_peak_per_function(mode, request):
    cap, _ = request.getfixturevalue(mode)
    _check_groups(mode, _oracle_groups(cap, cap.peak), {
        "f_alloc_1mib": (1 * MiB, 1),
        "g_leak": (300 * KiB, 3),
        "k_chunk": (4 * MiB, 4),
    })
    (chunk,) = [r for r in cap.peak if cap.leaf(r) and cap.leaf(r)[0] == "k_chunk"
                and r.size >= 4 * MiB]
    assert cap.stack(chunk)[:2] == [("k_chunk", FILE, LINES["k_chunk"]),
                                    ("k_peak", FILE, LINES["k_peak_call"])]
    assert cap.metadata.peak_memory >= 5_550_080


@pytest.mark.parametrize("mode", ["plain", "pymalloc"])
def test_leaks_are_f_and_g_only(mode, request):
    cap, _ = request.getfixturevalue(mode)
    _check_groups(mode, _oracle_groups(cap, cap.leaks), {
        "f_alloc_1mib": (1 * MiB, 1),
        "g_leak": (300 * KiB, 3),
    })


@pytest.mark.parametrize(
    "mode, malloc, calloc, realloc, free",
    [
        ("plain", A.MALLOC, A.CALLOC, A.REALLOC, A.FREE),
        ("pymalloc", A.PYMALLOC_MALLOC, A.PYMALLOC_CALLOC, A.PYMALLOC_REALLOC, A.PYMALLOC_FREE),
    ],
)
def test_every_oracle_allocation(mode, malloc, calloc, realloc, free, request):
    cap, _ = request.getfixturevalue(mode)
    by_loc = {}
    for r in cap.allocs:
        if r.size < 4096:  # Python objects, recorded with --trace-python-allocators
            continue
        leaf = cap.leaf(r)
        if leaf and leaf[1] == FILE and leaf[0] != "<module>":
            by_loc.setdefault((leaf[0], leaf[2]), []).append((r.allocator, r.size))
    assert sorted(by_loc) == sorted([
        ("f_alloc_1mib", 57), ("g_leak", 62), ("h_temp", 67), ("c_calloc", 72),
        ("r_realloc", 77), ("r_realloc", 78), ("k_chunk", 83),
    ])
    assert by_loc[("f_alloc_1mib", 57)] == [(malloc, MiB)]
    assert by_loc[("g_leak", 62)] == [(malloc, 100 * KiB)] * 3
    assert by_loc[("h_temp", 67)] == [(malloc, 64 * KiB)] * 1000
    assert by_loc[("c_calloc", 72)] == [(calloc, 102_400)]
    assert by_loc[("r_realloc", 77)] == [(malloc, 10_000)]
    assert by_loc[("r_realloc", 78)] == [(realloc, 50_000)]
    assert by_loc[("k_chunk", 83)] == [(malloc, MiB)] * 4
    # The allocator calls go through the hooked domain only once: no plain MALLOC twin of a
    # PYMALLOC_MALLOC (and the other way round).
    sizes = {MiB, 100 * KiB, 64 * KiB, 102_400, 10_000, 50_000}
    other = [r for r in cap.allocs if r.size in sizes and r.allocator not in (malloc, calloc, realloc)
             and cap.leaf(r) and cap.leaf(r)[1] == FILE]
    assert other == []
    # realloc = free of the old block, then the new block.
    (old,) = [r for r in cap.at(cap.allocs, "r_realloc", 77) if r.size == 10_000]
    (new,) = [r for r in cap.at(cap.allocs, "r_realloc", 78) if r.size == 50_000]
    i_old, i_new = cap.records.index(old), cap.records.index(new)
    frees_between = [r for r in cap.records[i_old + 1:i_new] if r.allocator == free
                     and r.address == old.address]
    assert len(frees_between) == 1
    # Every h_temp block is freed by the same thread right after it is allocated.
    temps = [r for r in cap.at(cap.allocs, "h_temp", 67) if r.size == 64 * KiB]
    pos = {id(r): i for i, r in enumerate(cap.records)}
    for t in temps[:50]:
        i = pos[id(t)]
        nxt = [r for r in cap.records[i + 1:i + 40] if r.address == t.address]
        assert nxt and nxt[0].allocator == free, t


def test_trace_python_allocators_metadata(plain, pymalloc):
    assert plain[0].metadata.trace_python_allocators is False
    assert pymalloc[0].metadata.trace_python_allocators is True


@pytest.mark.parametrize("mode", ["plain", "pymalloc"])
def test_memray_stats_on_the_oracle(mode, request):
    cap, d = request.getfixturevalue(mode)
    doc, _ = stats_json(d / "out.bin")
    locs = stats_locations(doc)
    counts = stats_counts(doc)
    expected = {
        "h_temp:oracle.py:67": (65_536_000, 1000),
        "k_chunk:oracle.py:83": (4 * MiB, 4),
        "f_alloc_1mib:oracle.py:57": (MiB, 1),
        "g_leak:oracle.py:62": (307_200, 3),
        "c_calloc:oracle.py:72": (102_400, 1),
        "r_realloc:oracle.py:78": (50_000, 1),
        "r_realloc:oracle.py:77": (10_000, 1),
    }
    for loc, (size, n) in expected.items():
        if mode == "plain":
            assert (locs[loc], counts[loc]) == (size, n), loc
        else:  # plus the small Python objects made on the same line
            extra_n = counts[loc] - n
            assert extra_n >= 0 and 0 <= locs[loc] - size <= 512 * extra_n, loc
    assert doc["top_allocations_by_size"][0]["location"] == "h_temp:oracle.py:67"
    assert doc["metadata"]["peak_memory"] >= 5_550_080
    dist = doc["allocator_type_distribution"]
    if mode == "plain":
        assert dist["MALLOC"] >= 1008 and dist["CALLOC"] >= 1 and dist["REALLOC"] >= 1
    else:
        assert dist["PYMALLOC_MALLOC"] >= 1008 and dist["PYMALLOC_CALLOC"] >= 1
        assert doc["metadata"]["trace_python_allocators"] is True
