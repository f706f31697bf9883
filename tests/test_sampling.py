"""``--sample-every`` (``Tracker(sample_every=...)``): byte-based Poisson sampling.

A program that allocates known sizes from known functions is captured in full and sampled,
with a fixed seed (and hash seed, so that the program allocates the same way each run): the
sampled capture's estimates of the peak, of the leaks, of each function's bytes at the peak and
of the bytes a temporary loop allocated are within a few standard deviations of the exact
figures, in every mode sampling combines with; reports say they are estimates; captures are
much smaller; a seed repeats a run exactly; bad rates are refused."""

import json
import math
import os
import sys
from pathlib import Path

import pytest

from memray import AllocatorType, FileReader

from conftest import Capture, assert_ok, marks, memray_run, program, run, run_python, write

RATE = 16 * 1024

# Exact sizes through PyMem_RawMalloc (libc malloc & co. behind libpython's PLT: MALLOC, or
# PYMALLOC_MALLOC under --trace-python-allocators). The temporary loop runs first, then the
# leaked blocks, then the peak: 6000 x 4096 leaked + 300 x 100,000 live together.
PROGRAM = """
import ctypes, sys
malloc = ctypes.pythonapi.PyMem_RawMalloc
malloc.restype = ctypes.c_void_p
malloc.argtypes = [ctypes.c_size_t]
free = ctypes.pythonapi.PyMem_RawFree
free.argtypes = [ctypes.c_void_p]
LEAKED = []

def temporary():
    for _ in range(50_000):
        free(malloc(1000))  # @temporary

def leak_small():
    for _ in range(6000):
        LEAKED.append(malloc(4096))  # @leak_small

def peak_medium():
    blocks = []
    for _ in range(300):
        blocks.append(malloc(100_000))  # @peak_medium
    for b in blocks:
        free(b)

temporary()
leak_small()
peak_medium()
"""
TEMPORARY = 50_000 * 1000
LEAK_SMALL = 6000 * 4096
PEAK_MEDIUM = 300 * 100_000


def sd(size, n, rate=RATE):
    """One standard deviation of the estimated total of n allocations of `size` bytes."""
    p = -math.expm1(-size / rate)
    return math.sqrt(n * size * size * (1 - p) / p)


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    d = tmp_path_factory.mktemp("sampling")
    return write(d / "prog.py", PROGRAM)


def capture(prog, name, *extra, sampled=True, seed=1):
    out = prog.parent / f"{name}.bin"
    args = ["--sample-every", str(RATE), "--sample-seed", str(seed)] if sampled else []
    assert_ok(memray_run([*args, *extra, "-q", "-f", "-o", out, prog.name], cwd=prog.parent))
    return out


def by_function(c, records):
    out = {}
    for r in records:
        leaf = c.leaf(r)
        if leaf is not None:
            out[leaf[0]] = out.get(leaf[0], 0) + r.size
    return out


def weight(size, rate=RATE):
    """The bytes a sampled allocation of `size` is recorded with: size / p, rounded."""
    return round(size / -math.expm1(-size / rate))


def count_sd(size, n, rate=RATE):
    """One standard deviation of the estimated number of n allocations of `size` bytes."""
    p = -math.expm1(-size / rate)
    return math.sqrt(n * (1 - p) / p)


def counts_by_function(c, records):
    out = {}
    for r in records:
        leaf = c.leaf(r)
        if leaf is not None:
            out[leaf[0]] = out.get(leaf[0], 0) + r.n_allocations
    return out


def close(estimate, exact, sigma, k=4):
    return abs(estimate - exact) <= k * sigma, f"{estimate:,} vs {exact:,} (sd {sigma:,.0f})"


@pytest.fixture(scope="module")
def full(prog):
    return Capture(capture(prog, "full", sampled=False))


@pytest.fixture(scope="module")
def sampled(prog):
    return Capture(capture(prog, "sampled"))


def test_the_estimates_match_the_exact_sizes(full, sampled, prog):
    assert sampled.metadata.sample_every == RATE and full.metadata.sample_every == 0
    at_peak = by_function(sampled, sampled.peak)
    ok, why = close(at_peak.get("leak_small", 0), LEAK_SMALL, sd(4096, 6000))
    assert ok, why
    ok, why = close(at_peak.get("peak_medium", 0), PEAK_MEDIUM, sd(100_000, 300))
    assert ok, why
    assert "temporary" not in at_peak
    leaked = by_function(sampled, sampled.leaks)
    ok, why = close(leaked.get("leak_small", 0), LEAK_SMALL, sd(4096, 6000))
    assert ok, why
    assert "peak_medium" not in leaked and "temporary" not in leaked
    allocated = by_function(sampled, sampled.allocs)
    ok, why = close(allocated["temporary"], TEMPORARY, sd(1000, 50_000))
    assert ok, why
    # Counts are estimated too: each recorded allocation stands for 1/p of them. (Only the
    # records of the program's own sizes: the interpreter's few small allocations at the same
    # lines, on some versions, each stand for hundreds.)
    def count_of(func, size):
        return sum(r.n_allocations for r in sampled.at(sampled.allocs, func)
                   if r.size == weight(size))
    ok, why = close(count_of("leak_small", 4096), 6000, count_sd(4096, 6000))
    assert ok, why
    # Whole counts: each record's 1/p (16.9 here) is rounded up or down by a hash of its
    # address, which averages out over many addresses; the loop that frees each block before
    # the next reuses a handful, so its count may be off by up to 1 in 16.9 besides.
    est = count_of("temporary", 1000)
    assert abs(est - 50_000) <= 4 * count_sd(1000, 50_000) + 50_000 / 16.9, est
    full_doc = json.loads(assert_ok(run([program("memray-stats"), "--json", full.path])).stdout)
    doc = json.loads(assert_ok(run([program("memray-stats"), "--json", sampled.path])).stdout)
    # The total: mostly the temporary loop (see below), plus the interpreter's own small
    # allocations, each of which, when sampled, stands for hundreds.
    assert abs(doc["total_num_allocations"] / full_doc["total_num_allocations"] - 1) < 0.15
    # Lines are exact: a sampled allocation keeps its whole stack.
    lines = marks(prog)
    assert {sampled.leaf(r)[2] for r in sampled.at(sampled.allocs, "leak_small")
            if r.size == weight(4096)} == {lines["leak_small"]}
    # The whole-process figures within 5% of the full capture's.
    assert abs(sampled.metadata.peak_memory / full.metadata.peak_memory - 1) < 0.05
    full_leaked = sum(r.size for r in full.leaks)
    assert abs(sum(r.size for r in sampled.leaks) / full_leaked - 1) < 0.05
    # Every free recorded is that of a sampled block: far fewer records than the full capture.
    assert len(sampled.records) * 10 < len(full.records)
    assert all(r.size >= RATE for r in sampled.allocs if r.allocator != AllocatorType.MMAP)


def test_a_seed_repeats_a_run_and_another_seed_differs(prog, sampled):
    again = Capture(capture(prog, "again"))
    other = Capture(capture(prog, "other", seed=2))
    # The sampled allocations (where the interpreter maps its arenas may differ between runs,
    # and mmap is never sampled).
    sizes = lambda c: [(r.size, c.leaf(r)) for r in c.allocs  # noqa: E731
                       if r.allocator != AllocatorType.MMAP]
    assert sizes(again) == sizes(sampled)
    assert again.metadata.peak_memory == sampled.metadata.peak_memory
    assert sizes(other) != sizes(sampled)


@pytest.mark.parametrize("mode", [["--trace-python-allocators"], ["--native"], ["--aggregate"]])
def test_sampling_combines_with_every_mode(prog, full, mode):
    path = capture(prog, "mode" + mode[0].replace("-", "_"), *mode)
    meta = FileReader(path).metadata
    assert meta.sample_every == RATE
    assert abs(meta.peak_memory / full.metadata.peak_memory - 1) < 0.05, meta
    if mode != ["--aggregate"]:
        c = Capture(path)
        ok, why = close(by_function(c, c.peak).get("leak_small", 0), LEAK_SMALL,
                        sd(4096, 6000))
        assert ok, why
        if mode == ["--native"]:
            assert any(len(c.stack(r)) for r in c.allocs)


def test_a_sampled_capture_is_much_smaller(tmp_path):
    # Python objects of many sizes from many lines: what --trace-python-allocators records.
    prog = write(tmp_path / "objects.py", """
        def build(n):
            return [{"k": str(i) * (i % 40), "v": [i] * (i % 7)} for i in range(n)]
        data = [build(20_000) for _ in range(5)]
    """)
    full = capture(prog, "tpa_full", "--trace-python-allocators", sampled=False)
    small = capture(prog, "tpa_sampled", "--trace-python-allocators")
    assert os.path.getsize(small) * 20 < os.path.getsize(full), (
        os.path.getsize(small), os.path.getsize(full))


def test_reports_say_they_are_estimates(sampled, full):
    text = assert_ok(run([program("memray"), "stats", sampled.path])).stdout
    assert "Sampled capture" in text and f"({RATE} bytes)" in text and "±" in text
    assert "Sampled capture" not in assert_ok(run([program("memray"), "stats", full.path])).stdout
    doc = json.loads(assert_ok(run([program("memray-stats"), "--json", sampled.path])).stdout)
    err = doc["metadata"]["expected_relative_error"]
    assert err == pytest.approx(math.sqrt(RATE / doc["metadata"]["peak_memory"]))
    full_doc = json.loads(assert_ok(run([program("memray-stats"), "--json", full.path])).stdout)
    assert "sample_every" not in full_doc["metadata"]
    for tool in ("memray-summary", "memray-tree"):
        assert "Estimated from a sampled capture" in assert_ok(
            run([program(tool), sampled.path])).stdout
    for tool in ("memray-flamegraph", "memray-table"):
        out = sampled.path.with_suffix(f".{tool}.html")
        assert_ok(run([program(tool), "-f", "-o", out, sampled.path]))
        page = out.read_text()
        assert f'"sample_every":{RATE}' in page and "expected_relative_error" in page


def test_the_size_histogram_shows_the_sizes_allocated(sampled):
    doc = json.loads(assert_ok(run([program("memray-stats"), "--json", sampled.path])).stdout)
    bins = doc["allocation_size_histogram"]
    # The recorded weights are all at least the rate; the histogram turns them back into the
    # sizes allocated, so its smallest bin starts near 1000 bytes (temporary's), and counts
    # the allocations they stand for: about 50,000 of about 1000 bytes.
    assert bins and bins[0]["min_bytes"] <= 1001, bins[:2]
    near_1000 = sum(b["count"] for b in bins if b["min_bytes"] <= 1002 and b["max_bytes"] >= 998)
    assert abs(near_1000 / 50_000 - 1) < 0.05, bins


def test_the_python_api(tmp_path):
    script = write(tmp_path / "api.py", """
        import memray, sys
        def run(path, **sampling):
            keep = []
            with memray.Tracker(path, **sampling):
                for _ in range(2000):
                    keep.append(bytearray(10_000))
            reader = memray.FileReader(path)
            # The bytearrays' buffers (malloc); the pymalloc arena that holds their headers
            # is mapped by the first run only.
            buffers = sum(r.size for r in reader.get_allocation_records()
                          if r.allocator == memray.AllocatorType.MALLOC)
            return reader.metadata.sample_every, buffers
        full = run("full.bin")
        m = run("out.bin", sample_every=4096, sample_seed=3)
        print(*m, *full)
        for bad in ({"sample_every": 0}, {"sample_every": -1}, {"sample_seed": 1},
                    {"sample_every": 4096, "sample_seed": -1}):
            try:
                memray.Tracker("bad.bin", **bad)
            except ValueError as e:
                print("refused", e)
    """)
    out = run_python(script).stdout.splitlines()
    rate, peak, full_rate, full_peak = map(int, out[0].split())
    assert (rate, full_rate) == (4096, 0)
    assert abs(peak / full_peak - 1) < 0.05, (peak, full_peak)
    assert sum(line.startswith("refused") for line in out) == 4, out


@pytest.mark.parametrize("args,message", [
    (["--sample-every", "0"], "at least 1 byte"),
    (["--sample-every", "lots"], "not a number of bytes"),
    (["--sample-seed", "3"], "--sample-every"),
])
def test_bad_rates_are_refused(tmp_path, args, message):
    write(tmp_path / "p.py", "pass\n")
    proc = memray_run([*args, "-o", tmp_path / "o.bin", "p.py"], cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "o.bin").exists()


def test_follow_children_samples_every_process(tmp_path):
    write(tmp_path / "kids.py", """
        import multiprocessing as mp
        def work():
            global keep
            keep = [bytearray(50_000) for _ in range(400)]
        if __name__ == "__main__":
            ctx = mp.get_context("spawn")
            p = ctx.Process(target=work)
            p.start(); p.join()
    """)
    out = tmp_path / "set" / "out.bin"
    assert_ok(memray_run(["--follow-children", "--sample-every", "8K", "-q", "-o", out,
                          "kids.py"], cwd=tmp_path))
    members = sorted(out.parent.iterdir())
    assert len(members) >= 2, members
    for m in members:
        doc = json.loads(assert_ok(run([program("memray-stats"), "--json", m])).stdout)
        assert doc["metadata"]["sample_every"] == 8192, m
    doc = json.loads(assert_ok(run([program("memray-stats"), "--json", "--by-process",
                                    out.parent])).stdout)
    # The worker's 400 blocks of 50,001 bytes, far above the rate, stand for themselves; its
    # interpreter's own start (imports: about 1.5 MB, estimated) comes on top.
    child = [d for d in doc if d["metadata"]["pid"] != doc[0]["metadata"]["pid"]]
    assert any(20_000_000 <= d["metadata"]["peak_memory"] <= 25_000_000 for d in child), [
        d["metadata"]["peak_memory"] for d in doc]


def test_each_thread_samples_on_its_own(tmp_path):
    """Four threads, each its own countdown: every thread's function is estimated within a few
    standard deviations of its exact bytes, and a seeded run repeats each thread's choices."""
    prog = write(tmp_path / "threads.py", """
        import ctypes, threading
        malloc = ctypes.pythonapi.PyMem_RawMalloc
        malloc.restype = ctypes.c_void_p
        malloc.argtypes = [ctypes.c_size_t]
        KEPT = []
        def worker(size):
            for _ in range(20_000_000 // size):
                KEPT.append(malloc(size))  # @worker
        threads = [threading.Thread(target=worker, args=(s,)) for s in (2000, 3000, 5000, 8000)]
        for t in threads:
            t.start()
            t.join()
    """)
    c = Capture(capture(prog, "threads"))
    per_thread = {}
    for r in c.at(c.leaks, "worker"):
        per_thread[r.tid] = per_thread.get(r.tid, 0) + r.size
    assert len(per_thread) == 4, per_thread
    for (tid, bytes_), size in zip(sorted(per_thread.items()), (2000, 3000, 5000, 8000)):
        n = 20_000_000 // size
        ok, why = close(bytes_, n * size, sd(size, n))
        assert ok, (tid, why)
