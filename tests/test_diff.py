"""``memray diff`` (``memray-diff``): two runs of one program compared, with exact figures —
the one function that allocates 1 MB more is named with its file and the exact change, and
every other location shows none; matching by file, line or function; locations only in one
capture; the leaks, temporary and allocated measures; the CI gates; captures of different
kinds and Python versions; ``memray-transform diff-folded``; the differential flame graph."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, assert_ok, marks, memray_run, program, run, write

MB = 1_000_000

# Run as `prog.py old` or `prog.py new`: `grow` allocates 1 MB more in the new run; the rest is
# the same. Everything is kept to the end, so the peak and the leaks are the same set.
PROGRAM = """
import sys
KEEP = []

def steady():
    KEEP.append(bytearray(2_000_000))  # @steady

def grow(extra):
    KEEP.append(bytearray(3_000_000 + extra))  # @grow

def churn():
    for _ in range(50):
        block = bytearray(100_000)  # @churn
        del block

def main():
    extra = 1_000_000 if sys.argv[1] == "new" else 0
    steady()
    grow(extra)
    churn()
    if sys.argv[2:] == ["only"]:
        KEEP.append(bytearray(700_000))  # @only

main()
"""


def capture(d, name, *args, extra=(), python=None, script="prog.py"):
    out = d / f"{name}.bin"
    if python is None:
        proc = memray_run([*extra, "-q", "-f", "-o", out, script, *args], cwd=d)
    else:
        proc = run([python, "-m", "memray", "run", *extra, "-q", "-f", "-o", str(out), script,
                    *args], cwd=d)
    assert_ok(proc)
    return out


def diff(base, new, *args, check=True):
    proc = run([program("memray-diff"), *args, base, new])
    if check:
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout), proc
    return proc


def row(doc, function, file=None):
    found = [r for r in doc["locations"] if r["function"] == function
             and (file is None or (r["file"] or "").endswith(file))]
    assert len(found) == 1, (function, found)
    return found[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("diff")
    script = write(d / "prog.py", PROGRAM)
    return {
        "dir": d,
        "marks": marks(script),
        "old": capture(d, "old", "old"),
        "new": capture(d, "new", "new"),
        "only": capture(d, "only", "old", "only"),
    }


def test_the_function_that_grew_is_named_with_the_exact_change(runs):
    doc, _ = diff(runs["old"], runs["new"])
    assert doc["schema"] == "memray-diff/1"
    assert doc["measure"] == "peak" and doc["match"] == "file"
    grow = row(doc, "grow", "prog.py")
    assert (grow["base_bytes"], grow["new_bytes"], grow["change_bytes"]) == (
        3 * MB + 1, 4 * MB + 1, MB)
    assert grow["status"] == "grew" and grow["line"] is None
    # Everything else is unchanged, byte for byte and count for count.
    others = [r for r in doc["locations"] if r is not grow]
    assert others and all(r["change_bytes"] == 0 and r["change_count"] == 0 for r in others)
    assert doc["locations"][0] is not None and doc["locations"][0]["function"] == "grow"
    assert doc["change"]["peak_memory"] == MB
    assert doc["change"]["leaked_bytes"] == MB
    assert doc["change"]["compared_bytes"] == MB
    assert doc["base"]["totals"]["peak_memory"] + MB == doc["new"]["totals"]["peak_memory"]
    assert doc["failures"] == []


def test_the_terminal_report(runs):
    proc = assert_ok(run([program("memray"), "diff", runs["old"], runs["new"]]))
    out = proc.stdout
    assert out.startswith("Comparing memory live at the high-water mark, locations matched "
                          "by function and file\n")
    assert "Peak memory" in out and "+1.000MB" in out
    grew = out.split("Top 1 locations that grew:\n")[1].splitlines()[0]
    assert grew.split()[0] == "+1.000MB" and "grow at " in grew and "prog.py" in grew
    assert "(3.000MB -> 4.000MB, 1 -> 1 allocations)" in grew
    assert "No location shrank." in out


def test_matching_by_line_and_by_function(runs, tmp_path):
    # The same program with two lines added above `grow`: by file (the default) grow is the
    # same place; by line it moved (gone at one line, new at the other).
    moved = PROGRAM.replace("def grow(extra):", "# one\n# two\ndef grow(extra):")
    write(tmp_path / "prog.py", moved)
    lines_new = marks(tmp_path / "prog.py")
    after = capture(tmp_path, "moved", "old")
    doc, _ = diff(runs["old"], after)
    assert row(doc, "grow")["change_bytes"] == 0
    doc, _ = diff(runs["old"], after, "--match", "line")
    grows = {r["line"]: r for r in doc["locations"] if r["function"] == "grow"}
    assert grows[runs["marks"]["grow"]]["status"] == "gone"
    assert grows[runs["marks"]["grow"]]["change_bytes"] == -(3 * MB + 1)
    assert grows[lines_new["grow"]]["status"] == "new"
    assert grows[lines_new["grow"]]["change_bytes"] == 3 * MB + 1
    doc, _ = diff(runs["old"], runs["new"], "--match", "function")
    grow = row(doc, "grow")
    assert grow["file"] is None and grow["change_bytes"] == MB


def test_a_location_in_only_one_capture(runs):
    doc, _ = diff(runs["old"], runs["only"])
    only = [r for r in doc["locations"] if r["status"] == "new"]
    assert len(only) == 1 and only[0]["function"] == "main"
    assert (only[0]["base_bytes"], only[0]["new_bytes"]) == (0, 700_001)
    doc, _ = diff(runs["only"], runs["old"])
    gone = [r for r in doc["locations"] if r["status"] == "gone"]
    assert len(gone) == 1 and gone[0]["change_bytes"] == -700_001


def test_leaks_temporary_and_allocated(runs):
    doc, _ = diff(runs["old"], runs["new"], "--leaks")
    assert doc["measure"] == "leaks" and row(doc, "grow")["change_bytes"] == MB
    doc, _ = diff(runs["old"], runs["new"], "--temporary-allocations")
    churn = row(doc, "churn")
    assert (churn["base_count"], churn["new_count"], churn["change_bytes"]) == (50, 50, 0)
    assert churn["base_bytes"] == 50 * 100_001
    doc, _ = diff(runs["old"], runs["new"], "--allocated")
    assert doc["measure"] == "allocated"
    assert row(doc, "grow")["change_bytes"] == MB
    assert row(doc, "churn")["new_count"] == 50
    assert doc["change"]["total_bytes_allocated"] == MB


def test_ci_gates(runs):
    old, new = runs["old"], runs["new"]
    proc = diff(old, new, "--fail-if-peak-grows", "2%", check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("memray-diff: peak memory grew by +1.000MB (+")
    assert line.split(", more than ")[1].startswith("2%")
    doc = json.loads(proc.stdout)
    assert [f["gate"] for f in doc["failures"]] == ["peak"]
    assert diff(old, new, "--fail-if-peak-grows", "2MB", check=False).returncode == 0
    assert diff(old, new, "--fail-if-peak-grows", "50%", check=False).returncode == 0
    proc = diff(old, new, "--fail-if-leaks-grow", "999999", check=False)
    assert proc.returncode == 1 and "leaked bytes grew by +1.000MB" in proc.stderr
    proc = diff(old, new, "--fail-if-location-grows", "500kB", check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "grow at " in line and "prog.py grew by +1.000MB (+33.3%), more than 500.000kB" in line
    # Shrinking never fails a gate.
    assert diff(new, old, "--fail-if-peak-grows", "0%", "--fail-if-location-grows", "0",
                check=False).returncode == 0
    bad = run([program("memray-diff"), "--fail-if-peak-grows", "lots", old, new])
    assert bad.returncode == 2 and "is not a threshold" in bad.stderr


def test_bad_input_is_one_line(runs, tmp_path):
    for args in ([runs["old"], tmp_path / "missing.bin"], ["-", runs["old"]]):
        proc = run([program("memray-diff"), *args])
        assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    proc = run([program("memray-diff"), runs["old"], empty])
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1


def test_aggregated_against_full(runs, tmp_path):
    write(tmp_path / "prog.py", PROGRAM)
    agg = capture(tmp_path, "agg", "new", extra=["--aggregate"])
    doc, _ = diff(runs["old"], agg)
    assert doc["new"]["aggregated"] and not doc["base"]["aggregated"]
    assert row(doc, "grow")["change_bytes"] == MB
    assert any("pre-aggregated" in n for n in doc["notes"])
    proc = diff(runs["old"], agg, "--allocated", check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "NEW is a pre-aggregated capture" in line


def other_python():
    """An interpreter of another version with memray installed (the suite's other
    virtualenvs), or None."""
    here = sys.version_info[:2]
    candidates = [REPO / ".venv" / "bin" / "python"]
    candidates += sorted((REPO / ".venvs").glob("*/bin/python"))
    for py in candidates:
        if not py.exists():
            continue
        proc = subprocess.run([str(py), "-c", "import sys, memray._memray; "
                               "print(*sys.version_info[:2])"], capture_output=True, text=True)
        if proc.returncode == 0 and tuple(map(int, proc.stdout.split())) != here:
            return str(py)
    return None


def test_captures_of_two_python_versions(runs, tmp_path):
    py = other_python()
    if py is None:
        pytest.skip("no other CPython with memray here (make test-versions makes them)")
    write(tmp_path / "prog.py", PROGRAM)
    other = capture(tmp_path, "other", "new", python=py)
    doc, _ = diff(runs["old"], other)
    assert doc["base"]["python_version"] != doc["new"]["python_version"]
    assert any("different Pythons" in n for n in doc["notes"])
    grow = row(doc, "grow", "prog.py")
    assert grow["change_bytes"] == MB and grow["base_bytes"] == 3 * MB + 1


def test_transform_diff_folded(runs):
    proc = assert_ok(run([program("memray-transform"), "diff-folded", runs["old"],
                          runs["new"]]))
    lines = proc.stdout.splitlines()
    by_stack = {}
    for line in lines:
        stack, before, after = line.rsplit(" ", 2)
        by_stack[stack] = (int(before), int(after))
    grow = [k for k in by_stack if k.split(";")[-1].startswith("grow (")]
    assert len(grow) == 1 and by_stack[grow[0]] == (3 * MB + 1, 4 * MB + 1)
    assert all(b == a for k, (b, a) in by_stack.items() if k != grow[0])
    one = run([program("memray-transform"), "diff-folded", runs["old"]])
    assert one.returncode == 1 and "two captures" in one.stderr
