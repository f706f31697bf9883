"""`FileFormat.AGGREGATED_ALLOCATIONS` / `memray run --aggregate`: the tracked process sums up
peak and leaks per location itself and writes only those; the figures must equal a full
capture's, exactly."""

import os
import subprocess
import sys

import pytest

import memray
from memray import FileFormat

PROGRAM = """
import sys, time
import memray

def keep():
    return bytearray(300_000)

def temp():
    b = bytearray(700_000)
    time.sleep(0.05)
    del b

def main():
    kept = [keep() for _ in range(3)]
    temp()
    return kept

out, fmt = sys.argv[1], int(sys.argv[2])
with memray.Tracker(out, file_format=fmt):
    KEPT = main()
    for i in range(20000):
        bytearray(600 + (i * 7919) % 5000)
"""


def run_program(tmp_path, name, fmt):
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    out = tmp_path / name
    subprocess.run([sys.executable, str(script), str(out), str(int(fmt))], check=True)
    return out


def by_function(records):
    result = {}
    for r in records:
        stack = r.stack_trace()
        if stack and stack[0][1].endswith(("prog.py", "/p.py")):
            key = (stack[0][0], stack[0][2])
            size, count = result.get(key, (0, 0))
            result[key] = (size + r.size, count + r.n_allocations)
    return result


def test_aggregated_capture_matches_a_full_one(tmp_path):
    full = run_program(tmp_path, "full.bin", FileFormat.ALL_ALLOCATIONS)
    agg = run_program(tmp_path, "agg.bin", FileFormat.AGGREGATED_ALLOCATIONS)
    f, a = memray.FileReader(full), memray.FileReader(agg)
    assert a.metadata.file_format == FileFormat.AGGREGATED_ALLOCATIONS
    assert f.metadata.file_format == FileFormat.ALL_ALLOCATIONS
    peak_a = by_function(a.get_high_watermark_allocation_records())
    leak_a = by_function(a.get_leaked_allocation_records())
    assert peak_a[("keep", 6)] == (900_003, 3)
    assert peak_a[("temp", 9)] == (700_001, 1)
    assert leak_a[("keep", 6)] == (900_003, 3)
    assert ("temp", 9) not in leak_a
    assert peak_a == by_function(f.get_high_watermark_allocation_records())
    assert leak_a == by_function(f.get_leaked_allocation_records())
    assert a.metadata.peak_memory == f.metadata.peak_memory or abs(
        a.metadata.peak_memory - f.metadata.peak_memory
    ) < 64 * 1024
    snaps = list(a.get_memory_snapshots())
    assert snaps and all(s.rss > 0 for s in snaps)
    assert max(s.heap for s in snaps) >= 900_003
    # Much smaller than every event.
    assert agg.stat().st_size * 3 < full.stat().st_size
    with pytest.raises(NotImplementedError):
        list(a.get_allocation_records())
    with pytest.raises(NotImplementedError):
        list(a.get_temporary_allocation_records())


def test_reports_on_an_aggregated_capture(tmp_path):
    agg = run_program(tmp_path, "agg.bin", FileFormat.AGGREGATED_ALLOCATIONS)
    out = subprocess.run(
        ["memray-flamegraph", "-o", str(tmp_path / "fg.html"), str(agg)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "keep" in (tmp_path / "fg.html").read_text()
    out = subprocess.run(["memray-summary", "--leaks", str(agg)], capture_output=True, text=True)
    assert out.returncode == 0 and "keep" in out.stdout
    out = subprocess.run(["memray-stats", str(agg)], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "memray-stats: Can't compute statistics using a pre-aggregated capture file."
    ]
    out = subprocess.run(
        ["memray-flamegraph", "--temporary-allocations", "-o", str(tmp_path / "t.html"), str(agg)],
        capture_output=True, text=True,
    )
    assert out.returncode == 1 and "pre-aggregated" in out.stderr


def test_memray_run_aggregate(tmp_path):
    script = tmp_path / "p.py"
    script.write_text("def f():\n    return bytearray(1_000_000)\nx = f()\n")
    out = tmp_path / "o.bin"
    proc = subprocess.run(
        ["memray", "run", "-q", "--aggregate", "-o", str(out), str(script)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    r = memray.FileReader(out)
    assert r.metadata.file_format == FileFormat.AGGREGATED_ALLOCATIONS
    assert by_function(r.get_leaked_allocation_records())[("f", 2)] == (1_000_001, 1)
