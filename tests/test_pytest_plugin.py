"""The pytest plugin shipped in the package (pytest-memray's interface), through ``pytester``."""

import json
import re
import subprocess
import sys

import pytest
from pytest import ExitCode

# In-process pytester runs drop the modules they import; import memray's here so that classes
# stay the same objects across runs (pickling the results needs that).
import memray._metadata  # noqa: F401
import memray._reader  # noqa: F401
import memray._test  # noqa: F401
from memray._pytest_plugin import sizeof_fmt

pytest_plugins = ["pytester"]

ALLOC = """
import pytest
from memray._test import MemoryAllocator
allocator = MemoryAllocator()
"""


def stacks(output):
    """The allocation stacks of the failure sections: [[(function, file, line), ...], ...]."""
    found = []
    started = False
    for line in output.splitlines():
        if "List of allocations:" in line or "List of leaked allocations:" in line:
            started = True
        elif started and "allocated here" in line:
            found.append([])
        elif started and (m := re.match(r"^ {8}([^:]+):(.*):(\d+)$", line)):
            found[-1].append((m[1], m[2], int(m[3])))
    return found


@pytest.mark.parametrize("size, outcome", [
    (1024 * 5, ExitCode.TESTS_FAILED),
    (1024 * 2, ExitCode.TESTS_FAILED),
    (1024 * 2 - 1, ExitCode.OK),
    (1024, ExitCode.OK),
])
@pytest.mark.parametrize("flag", [["--memray"], []])
def test_limit_memory_boundary(pytester, size, outcome, flag):
    pytester.makepyfile(ALLOC + f"""
@pytest.mark.limit_memory("2KB")
def test_alloc():
    allocator.valloc({size})
    allocator.free()
""")
    assert pytester.runpytest(*flag).ret == outcome


def test_limit_memory_failure_text(pytester):
    pytester.makepyfile(ALLOC + """
def rec(n):
    if n <= 1:
        allocator.valloc(4096)
        allocator.free()
        return
    rec(n - 1)

@pytest.mark.limit_memory("24 MB")
def test_small():
    allocator.valloc(1000)
    allocator.free()

@pytest.mark.limit_memory("1kb")
def test_big():
    rec(5)
""")
    result = pytester.runpytest("--memray", "--stacks=3", "-p", "no:cacheprovider")
    assert result.ret == ExitCode.TESTS_FAILED
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "test_limit_memory_failure_text.py .M*",
        "*_ test_big _*",
        "Test was limited to 1.0KiB but allocated 4.0KiB",
        "*- memray-max-memory -*",
        "List of allocations:",
        "    - 4.0KiB allocated here:",
        "        valloc:*memray/_test.py:*",
        "        rec:*test_limit_memory_failure_text.py:7",
        "        rec:*test_limit_memory_failure_text.py:10",
        "        ...",
        # pytest adds a text report's first words to the summary line from pytest 9 on (the
        # newest pytest for Python 3.9 is 8.4).
        "MEMORY PROBLEMS test_limit_memory_failure_text.py::test_big"
        + (" - Test was limite*" if pytest.version_tuple >= (9,) else ""),
        "*1 failed, 1 passed*",
    ])
    assert "test_small" not in out.split("MEMRAY REPORT")[0].split("FAILURES")[1]


@pytest.mark.parametrize("args, shown", [
    (["-q"], False), ([], True), (["-o", "verbosity_memray=-1"], False),
])
def test_failure_allocation_list_follows_verbosity(pytester, args, shown):
    pytester.makepyfile(ALLOC + """
@pytest.mark.limit_memory("1KB")
def test_alloc():
    allocator.valloc(4096)
    allocator.free()
""")
    result = pytester.runpytest("--memray", *args)
    assert result.ret == ExitCode.TESTS_FAILED
    assert bool(stacks(result.stdout.str())) is shown


def test_at_most_ten_allocations_unless_very_verbose(pytester):
    pytester.makepyfile(ALLOC + """
def rec(n, keep):
    a = MemoryAllocator()
    a.valloc(1024)
    keep.append(a)
    if n > 1:
        rec(n - 1, keep)

@pytest.mark.limit_memory("1KB")
def test_alloc():
    keep = []
    rec(15, keep)
    for a in keep:
        a.free()
""")
    out = pytester.runpytest().stdout.str()
    assert len(stacks(out)) == 10 and "    ...and 5 more" in out
    out = pytester.runpytest("-vv").stdout.str()
    assert len(stacks(out)) == 15 and "...and" not in out


def test_summary(pytester):
    pytester.makepyfile(ALLOC + """
def allocating_func1():
    allocator.valloc(1024)
    allocator.free()

def allocating_func2():
    allocator.valloc(1024 * 2)
    allocator.free()

def test_foo():
    allocating_func1()

def test_bar():
    allocating_func2()

def test_raises():
    allocating_func2()
    1 / 0
""")
    result = pytester.runpytest("--memray")
    assert result.ret == ExitCode.TESTS_FAILED
    out = result.stdout.str()
    report = out.split("MEMRAY REPORT")[1].split("short test summary")[0]
    result.stdout.fnmatch_lines([
        "*= MEMRAY REPORT =*",
        "Allocation results for test_summary.py::test_bar at the high watermark",
        "",
        "\t 📦 Total memory allocated: 2.0KiB",
        "\t 📏 Total allocations: 2",
        "\t 📊 Histogram of allocation sizes: |█|",
        "\t 🥇 Biggest allocating functions:",
        "\t\t- valloc:*memray/_test.py:* -> 2.0KiB",
        "",
        "",
        "Allocation results for test_summary.py::test_foo at the high watermark",
        "",
        "\t 📦 Total memory allocated: 1.0KiB",
    ])
    # Failed tests are not reported; without --memray-bin-path no dumps are announced.
    assert "test_raises" not in report and "binary dumps" not in report

    out = pytester.runpytest("--memray", "--most-allocations=1").stdout.str()
    assert "test_bar at" in out and "test_foo at" not in out
    out = pytester.runpytest("--memray", "--hide-memray-summary").stdout.str()
    assert "MEMRAY REPORT" not in out
    out = pytester.runpytest().stdout.str()
    assert "MEMRAY REPORT" not in out


def test_ini_keys(pytester):
    pytester.makeini("""
[pytest]
memray = true
most_allocations = 1
stacks = 2
""")
    pytester.makepyfile(ALLOC + """
def helper():
    allocator.valloc(8192)
    allocator.free()

def test_one():
    allocator.valloc(100)
    allocator.free()

@pytest.mark.limit_memory("1KB")
def test_two():
    helper()
""")
    result = pytester.runpytest()
    out = result.stdout.str()
    assert "MEMRAY REPORT" in out
    assert "test_two at" in out and "test_one at" not in out
    (stack,) = stacks(out)
    assert [f[0] for f in stack] == ["valloc", "helper"]


def test_bin_path_files(pytester):
    pytester.makepyfile(**{"sub/test_files": ALLOC + """
@pytest.mark.parametrize("i", [1, 2])
def test_b(i):
    allocator.valloc(1000 * i)
    allocator.free()

def test_a():
    pass
"""})
    dump = pytester.path / "dumps"
    result = pytester.runpytest("--memray", "--memray-bin-path", str(dump),
                                "--memray-bin-prefix", "P")
    assert result.ret == ExitCode.OK
    names = {p.name for p in dump.iterdir()}
    assert names == {"P-sub-test_files.py-test_a.bin", "P-sub-test_files.py-test_b[1].bin",
                     "P-sub-test_files.py-test_b[2].bin", "metadata"}
    assert {p.name for p in (dump / "metadata").iterdir()} == {
        n.replace(".bin", ".metadata") for n in names if n != "metadata"}
    result.stdout.fnmatch_lines([f"Created 3 binary dumps at {dump} with prefix P"])
    import memray
    with memray.FileReader(dump / "P-sub-test_files.py-test_b[2].bin") as reader:
        assert reader.metadata.peak_memory == 2000
    # A file that is in the way is replaced.
    (dump / "P-sub-test_files.py-test_a.bin").write_bytes(b"old")
    assert pytester.runpytest("--memray", "--memray-bin-path", str(dump),
                              "--memray-bin-prefix", "P").ret == ExitCode.OK


def test_bin_path_must_be_a_directory(pytester):
    (pytester.path / "afile").write_text("x")
    result = pytester.runpytest("--memray", "--memray-bin-path", "afile")
    assert result.ret == ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*afile must be a directory*"])


def test_long_test_ids_make_short_file_names(pytester):
    pytester.makepyfile(test_long="""
import pytest
@pytest.mark.parametrize("v", ["a" * 300], ids=["a" * 300])
def test_a(v):
    pass
""")
    dump = pytester.path / "d"
    assert pytester.runpytest("--memray", "--memray-bin-path", str(dump),
                              "--memray-bin-prefix", "p").ret == ExitCode.OK
    (meta,) = (dump / "metadata").iterdir()
    assert len(meta.name.encode()) == 255 and meta.name.startswith("p-test_long.py-test_a[aaa")


@pytest.mark.parametrize("size, outcome", [
    (1024 * 20, ExitCode.TESTS_FAILED), (1024 * 10, ExitCode.TESTS_FAILED), (1024, ExitCode.OK),
])
def test_xdist_limits(pytester, size, outcome):
    pytester.makepyfile(ALLOC + f"""
@pytest.mark.limit_memory("10KB")
def test_one():
    allocator.valloc({size})
    allocator.free()

@pytest.mark.limit_memory("10KB")
def test_two():
    allocator.valloc({size})
    allocator.free()
""")
    assert pytester.runpytest("--memray", "-n", "2").ret == outcome


def test_xdist_summary_and_files(pytester):
    pytester.makepyfile(ALLOC + """
def test_foo():
    allocator.valloc(1024)
    allocator.free()

def test_bar():
    allocator.valloc(2048)
    allocator.free()
""")
    result = pytester.runpytest("--memray", "-n", "2")
    assert result.ret == ExitCode.OK
    out = result.stdout.str()
    assert "MEMRAY REPORT" in out
    assert "results for test_xdist_summary_and_files.py::test_foo" in out
    assert "results for test_xdist_summary_and_files.py::test_bar" in out
    assert "-> 2.0KiB" in out and "-> 1.0KiB" in out
    dump = pytester.path / "dumps"
    result = pytester.runpytest("--memray", "-n", "2", "--memray-bin-path", str(dump),
                                "--memray-bin-prefix", "X")
    assert {p.name for p in dump.glob("*.bin")} == {
        "X-test_xdist_summary_and_files.py-test_foo.bin",
        "X-test_xdist_summary_and_files.py-test_bar.bin"}
    result.stdout.fnmatch_lines([f"Created 2 binary dumps at {dump} with prefix X"])


def test_xdist_workers_captures_are_one_set_with_a_combined_peak(pytester):
    # Two tests in two workers hold 3 MB and 5 MB at the same time (each waits for the other's
    # file), a third holds 1 MB alone afterwards: the combined peak counts both blocks.
    pytester.makepyfile("""
import os, time
import pytest

def hold(size, mine, other):
    block = bytearray(size)
    open(mine, "w").close()
    deadline = time.monotonic() + 20
    while not os.path.exists(other) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)
    assert os.path.exists(other), "the other test did not run at the same time"
    del block

def test_three():
    hold(3_000_000, "three", "five")

def test_five():
    hold(5_000_000, "five", "three")

def test_one_after():
    bytearray(1_000_000)
""")
    dump = pytester.path / "dumps"
    # xdist's load scheduling deals 3 tests to 2 workers in turn: three and five apart.
    result = pytester.runpytest("--memray", "-n", "2", "--memray-bin-path", str(dump))
    assert result.ret == ExitCode.OK, result.stdout.str()
    out = result.stdout.str()
    report = out.split("MEMRAY REPORT")[1]
    assert "All 3 tests across 2 xdist workers" in report
    # The same figures as `memray-stats` over the dumps directory, a capture set.
    proc = subprocess.run([sys.executable, "-m", "memray", "stats", "--json", "-o",
                           str(pytester.path / "set.json"), "-f", str(dump)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((pytester.path / "set.json").read_text())["metadata"]
    assert meta["peak_memory"] >= 8_000_002
    assert f"Combined peak (most memory the tests held at one moment): " \
           f"{sizeof_fmt(meta['peak_memory'])}" in report
    assert f"Sum of the tests' peaks: {sizeof_fmt(meta['sum_of_peaks'])}" in report


@pytest.mark.parametrize("size, outcome", [
    (0, ExitCode.OK), (1, ExitCode.OK), (102, ExitCode.OK), (1024, ExitCode.TESTS_FAILED),
    (1024 * 10, ExitCode.TESTS_FAILED),
])
def test_limit_leaks(pytester, size, outcome):
    pytester.makepyfile(ALLOC + f"""
@pytest.mark.limit_leaks("5KB")
def test_leaks():
    for _ in range(10):
        allocator.valloc({size})  # never freed
""")
    # Leak checks track native stacks, and (as pytest-memray does) show hybrid stacks: the
    # native frames of the allocating extension first, then the Python frames.
    result = pytester.runpytest("--stacks", "40")
    assert result.ret == outcome
    if outcome == ExitCode.TESTS_FAILED:
        result.stdout.fnmatch_lines([
            "Test was allowed to leak 5.0KiB per location but at least one location leaked more",
            "*- memray-leaked-memory -*",
            "List of leaked allocations:",
            f"    - {10 * size / 1024:.1f}KiB allocated here:",
            "        *MemoryAllocator::valloc:*testmod/src/lib.rs:*",
            "        valloc:*memray/_test.py:*",
            "        test_leaks:*test_limit_leaks.py:8",
        ])


def test_limit_leaks_filter_and_threads(pytester):
    pytester.makepyfile(ALLOC + """
import threading

def ignored():
    allocator.valloc(1024)

def keep(stack):
    return not any(frame.function == "ignored" for frame in stack.frames)

@pytest.mark.limit_leaks("5KB", filter_fn=keep)
def test_filtered():
    for _ in range(10):
        ignored()

def in_thread():
    for _ in range(10):
        allocator.valloc(1024)

@pytest.mark.limit_leaks("5KB", current_thread_only=True)
def test_other_thread_ignored():
    t = threading.Thread(target=in_thread)
    t.start()
    t.join()

@pytest.mark.limit_leaks("5KB")
def test_other_thread_counted():
    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS *::test_other_thread_counted*"])


def test_fail_on_increase(pytester, monkeypatch):
    pytester.makepyfile(test_grow=ALLOC + """
import os

@pytest.mark.limit_memory("1MB")
def test_grow():
    allocator.valloc(int(os.environ["SIZE"]))
    allocator.free()
""")
    monkeypatch.setenv("SIZE", "1000")
    assert pytester.runpytest("--fail-on-increase").ret == ExitCode.OK
    monkeypatch.setenv("SIZE", "2000")
    result = pytester.runpytest("--fail-on-increase")
    assert result.ret == ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        "Test previously used 1000.0B but now uses 2.0KiB",
        "*- memray-max-memory -*",
        "Test uses more memory than previous run",
    ])
    assert pytester.runpytest().ret == ExitCode.OK


def test_one_marker_per_test(pytester):
    pytester.makepyfile("""
import pytest
@pytest.mark.limit_memory("1MB")
@pytest.mark.limit_leaks("1MB")
def test_two_markers():
    pass
""")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*ValueError: Only one Memray marker can be applied to each test*"])


def test_async_tests_and_markers_listed(pytester):
    pytester.makepyfile(ALLOC + """
import asyncio

@pytest.mark.limit_memory("1KB")
def test_sync():
    asyncio.run(work())

async def work():
    allocator.valloc(4096)
    allocator.free()
""")
    assert pytester.runpytest().ret == ExitCode.TESTS_FAILED
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines([
        "@pytest.mark.limit_memory(limit): Fail the test if its peak memory*",
        "@pytest.mark.limit_leaks(location_limit): Fail the test if memory allocated*",
    ])


def test_help_lists_each_option_once(pytester):
    out = pytester.runpytest("--help").stdout.str()
    for option in ("--memray ", "--memray-bin-path", "--memray-bin-prefix", "--hide-memray-summary",
                   "--most-allocations", "--stacks", "--native", "--trace-python-allocators",
                   "--fail-on-increase"):
        assert out.count(f"  {option}") == 1, option
    assert "memray:" in out and "memray (bool)" in out


def test_disabled_with_p_no_memray(pytester):
    pytester.makepyfile(ALLOC + """
@pytest.mark.limit_memory("1KB")
def test_alloc():
    allocator.valloc(4096)
    allocator.free()
""")
    result = pytester.runpytest("-p", "no:memray", "-p", "no:warnings")
    assert result.ret == ExitCode.OK
    assert pytester.runpytest("-p", "no:memray", "--memray").ret == ExitCode.USAGE_ERROR


GROWING = """
import os
KEEP = []

def test_grows():
    KEEP.append(bytearray(int(os.environ["GROWS_BY"]) + 2_000_000))

def test_steady():
    KEEP.append(bytearray(1_000_000))
"""


def test_baseline_then_compare(pytester, monkeypatch):
    pytester.makepyfile(GROWING)
    base = pytester.path / "base"
    monkeypatch.setenv("GROWS_BY", "0")
    assert pytester.runpytest("--memray-baseline", str(base)).ret == ExitCode.OK
    doc = json.loads((base / "memray-baseline.json").read_text())
    assert doc["schema"] == "memray-baseline/1"
    tests = doc["tests"]
    grows = tests["test_baseline_then_compare.py::test_grows"]
    steady = tests["test_baseline_then_compare.py::test_steady"]
    assert grows["peak_memory"] >= 2_000_001 and steady["peak_memory"] >= 1_000_001
    # The blocks are kept (KEEP): the tests leak them.
    assert grows["leaked_bytes"] >= 2_000_001 and steady["leaked_bytes"] >= 1_000_001
    # Unchanged: passes. 1 MB more (+50%) in test_grows: fails at the default 10%, passes
    # when 60% or 2MB is allowed.
    assert pytester.runpytest("--memray-compare", str(base)).ret == ExitCode.OK
    monkeypatch.setenv("GROWS_BY", "1000000")
    result = pytester.runpytest("--memray-compare", str(base))
    assert result.ret == ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "test_grows" in out.split("short test summary")[1]
    growth = 1_000_000 * 100 / grows["peak_memory"]
    assert (f"Test peak memory grew from {sizeof_fmt(grows['peak_memory'])} (its baseline) "
            f"to {sizeof_fmt(grows['peak_memory'] + 1_000_000)}: +{sizeof_fmt(1_000_000)} "
            f"(+{growth:.1f}%), more than the 10% allowed") in out
    for allowed in ("60%", "2MB"):
        assert pytester.runpytest("--memray-compare", str(base), "--memray-max-growth",
                                  allowed).ret == ExitCode.OK
    bad = pytester.runpytest("--memray-compare", str(pytester.path / "nowhere"))
    assert bad.ret == ExitCode.USAGE_ERROR
    bad = pytester.runpytest("--memray-compare", str(base), "--memray-max-growth", "lots")
    assert bad.ret == ExitCode.USAGE_ERROR
