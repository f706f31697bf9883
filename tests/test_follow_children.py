"""``memray run --follow-children``: every Python process of a tree tracked into one capture
set (``out.bin`` and ``out.bin.<pid>`` in one directory), and the reports over the set: the
combined peak (the highest sum of the processes' heaps at one moment) against the sum of
their own peaks, exact bytes at exact lines across processes, Pool workers under each start
method, subprocess and grandchildren, a child killed with SIGKILL, non-Python children."""

import csv
import io
import json
import os
import signal
import sys
from pathlib import Path

import pytest

import memray
from conftest import DEALLOCATORS, assert_ok, marks, memray_run, program, run, write

MB10 = 10_000_000

# Holds exactly 10,000,001 bytes (a bytearray and its NUL) at `hold`: allocates once the file
# argv[2] names exists, then creates argv[1], and frees 0.3 s after argv[3] exists (or after
# 0.4 s). "-" (or no argument) is no file.
CHILD = """
import os, sys, time
def wait_for(path):
    while path not in ("", "-") and not os.path.exists(path):
        time.sleep(0.005)
def hold(after, until):
    wait_for(after)
    block = bytearray(10_000_000)  # @hold
    open(sys.argv[1], "w").close()
    if until not in ("", "-"):
        wait_for(until)
        time.sleep(0.3)
    else:
        time.sleep(0.4)
    del block
hold(sys.argv[2] if len(sys.argv) > 2 else "", sys.argv[3] if len(sys.argv) > 3 else "")
"""

PARENT = """
import subprocess, sys
a = subprocess.Popen([sys.executable, "child.py", *sys.argv[1].split()])
b = subprocess.Popen([sys.executable, "child.py", *sys.argv[2].split()])
print(a.wait(), b.wait())
"""


def run_tree(tmp_path, script, *args, extra=()):
    capset = tmp_path / "capset"
    capset.mkdir()
    proc = memray_run(["--follow-children", *extra, "-q", "-o", capset / "out.bin", script,
                       *args], cwd=tmp_path, timeout=120)
    assert_ok(proc)
    return capset, proc


def stats(capset, *extra):
    proc = run([program("memray-stats"), *extra, capset])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc


def peak_rows(capset, *extra):
    """`memray-transform csv` over the set: the allocations live at the combined peak."""
    proc = run([program("memray-transform"), "csv", *extra, capset])
    assert proc.returncode == 0, proc.stderr
    _, *rows = list(csv.reader(io.StringIO(proc.stdout, newline="")))
    return rows


def bytes_at(rows, func, file, line):
    total = 0
    for r in rows:
        frame = r[5].split("|")[0]
        if not frame:
            continue
        f, path, lineno = frame.rsplit(";", 2)
        if (f, os.path.basename(path), int(lineno)) == (func, file, line):
            total += int(r[2])
    return total


def test_two_children_holding_10_mb_at_overlapping_times(tmp_path):
    child = write(tmp_path / "child.py", CHILD)
    line = marks(child)["hold"]
    parent = write(tmp_path / "parent.py", PARENT)
    # a holds until b holds (then 0.3 s more); b starts holding once a does.
    capset, proc = run_tree(tmp_path, parent, "a_holds - b_holds", "b_holds a_holds")
    assert proc.stdout == "0 0\n"
    files = sorted(p.name for p in capset.iterdir())
    assert len(files) == 3 and files[0] == "out.bin", files
    doc, _ = stats(capset)
    meta = doc["metadata"]
    procs = meta["processes"]
    assert len(procs) == 3
    root = [p for p in procs if p["parent_pid"] == 0]
    assert len(root) == 1 and root[0]["path"].endswith("out.bin")
    children = [p for p in procs if p["parent_pid"] == root[0]["pid"]]
    assert len(children) == 2 and all(p["complete"] for p in procs)
    # The combined peak: both blocks live at one moment, plus what every process had then.
    assert meta["peak_memory"] == sum(p["heap_at_combined_peak"] for p in procs)
    assert all(p["heap_at_combined_peak"] >= MB10 + 1 for p in children)
    assert meta["sum_of_peaks"] == sum(p["peak_memory"] for p in procs)
    # Both children's blocks, at the same line of the same function: one place, 2 × 10 MB.
    assert bytes_at(peak_rows(capset), "hold", "child.py", line) == 2 * (MB10 + 1)
    # --pid picks one process: its own peak.
    one, _ = stats(capset, "--pid", str(children[0]["pid"]))
    assert one["metadata"]["pid"] == children[0]["pid"]
    assert one["metadata"]["peak_memory"] == children[0]["peak_memory"]
    assert bytes_at(peak_rows(capset, "--pid", str(children[0]["pid"])),
                    "hold", "child.py", line) == MB10 + 1


# The second child starts 0.2 s after the first has exited.
SEPARATE = """
import os, subprocess, sys, time
a = subprocess.Popen([sys.executable, "child.py", "a_holds"])
assert a.wait() == 0
time.sleep(0.2)
b = subprocess.Popen([sys.executable, "child.py", "b_holds"])
print(b.wait())
"""


def test_children_holding_10_mb_one_after_the_other(tmp_path):
    child = write(tmp_path / "child.py", CHILD)
    line = marks(child)["hold"]
    parent = write(tmp_path / "parent.py", SEPARATE)
    capset, proc = run_tree(tmp_path, parent)
    assert proc.stdout == "0\n"
    doc, _ = stats(capset)
    meta = doc["metadata"]
    procs = meta["processes"]
    assert len(procs) == 3
    assert meta["peak_memory"] == sum(p["heap_at_combined_peak"] for p in procs)
    held = [p for p in procs if p["heap_at_combined_peak"] >= MB10 + 1]
    assert len(held) == 1
    # One block at the combined peak; the sum of the peaks counts both.
    assert bytes_at(peak_rows(capset), "hold", "child.py", line) == MB10 + 1
    assert meta["sum_of_peaks"] >= meta["peak_memory"] + MB10


POOL = """
import multiprocessing as mp, sys
def task(i):
    block = bytearray(1_000_000 + i)  # @task
    return len(block)
if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    pool = ctx.Pool(2)
    print(sum(pool.map(task, range(4))))
    pool.close()
    pool.join()
"""


def records_by_leaf(capset):
    """{(function, file basename, line): [sizes]} over every allocation of every process."""
    out = {}
    for path in sorted(capset.iterdir()):
        with memray.FileReader(path) as r:
            for rec in r.get_allocation_records():
                if rec.allocator in DEALLOCATORS:
                    continue
                stack = rec.stack_trace()
                if stack:
                    f, file, line = stack[0]
                    out.setdefault((f, os.path.basename(file), line), []).append(rec.size)
    return out


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_pool_under_each_start_method(tmp_path, method):
    script = write(tmp_path / "pool.py", POOL)
    line = marks(script)["task"]
    capset, proc = run_tree(tmp_path, script, method)
    assert proc.stdout == f"{4_000_006}\n"
    sizes = records_by_leaf(capset)[("task", "pool.py", line)]
    assert sorted(sizes) == [1_000_001, 1_000_002, 1_000_003, 1_000_004]
    doc, _ = stats(capset)
    pids = {p["pid"] for p in doc["metadata"]["processes"]}
    root = next(p["pid"] for p in doc["metadata"]["processes"] if p["parent_pid"] == 0)
    # The two workers (and, with spawn/forkserver, the helper processes) are in the set.
    assert len(pids) >= 3
    assert all(p["parent_pid"] in pids or p["pid"] == root
               for p in doc["metadata"]["processes"])


TREE = """
import os, subprocess, sys
def grow():
    return bytearray(3_000_000)  # @grow
block = grow()
if sys.argv[1:] == ["child"]:
    subprocess.run([sys.executable, "tree.py", "grandchild"], check=True)
elif sys.argv[1:] == []:
    subprocess.run([sys.executable, "tree.py", "child"], check=True)
    subprocess.run(["/bin/true"], check=True)
    subprocess.run(["/bin/sh", "-c", "exit 0"], check=True)
print(sys.argv[1:], os.getpid())
"""


def test_subprocess_child_and_grandchild_and_untouched_non_python_children(tmp_path):
    script = write(tmp_path / "tree.py", TREE)
    line = marks(script)["grow"]
    capset, proc = run_tree(tmp_path, script)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("['grandchild']") and lines[2].startswith("[]")
    pid = {eval(l.rsplit(" ", 1)[0])[0] if l.startswith("['") else "root": int(l.rsplit(" ", 1)[1])
           for l in lines}
    doc, _ = stats(capset)
    procs = {p["pid"]: p for p in doc["metadata"]["processes"]}
    # Three Python processes; /bin/true and sh are not Python and left no capture.
    assert set(procs) == {pid["root"], pid["child"], pid["grandchild"]}
    assert procs[pid["child"]]["parent_pid"] == pid["root"]
    assert procs[pid["grandchild"]]["parent_pid"] == pid["child"]
    assert procs[pid["grandchild"]]["start_time"] >= procs[pid["child"]]["start_time"]
    assert sorted(records_by_leaf(capset)[("grow", "tree.py", line)]) == [3_000_001] * 3


KILLED = """
import os, signal, subprocess, sys, time
def keep():
    return bytearray(2_000_000)  # @keep
if sys.argv[1:] == ["child"]:
    block = keep()
    open("child_ready", "w").close()
    time.sleep(60)
else:
    block = keep()
    child = subprocess.Popen([sys.executable, "killed.py", "child"])
    while not os.path.exists("child_ready"):
        time.sleep(0.01)
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    print(child.wait())
"""


def test_a_child_killed_with_sigkill_is_cut_short_the_others_whole(tmp_path):
    script = write(tmp_path / "killed.py", KILLED)
    line = marks(script)["keep"]
    capset, proc = run_tree(tmp_path, script)
    assert proc.stdout == f"{-signal.SIGKILL}\n"
    doc, stats_proc = stats(capset)
    procs = doc["metadata"]["processes"]
    assert len(procs) == 2
    root = next(p for p in procs if p["parent_pid"] == 0)
    child = next(p for p in procs if p["parent_pid"] == root["pid"])
    assert root["complete"] and not child["complete"]
    assert "was cut short" in stats_proc.stderr and Path(child["path"]).name in stats_proc.stderr
    # Both blocks are in the set's leaks: the killed child's still live when it was killed.
    leak_rows = peak_rows(capset, "--leaks")
    assert bytes_at(leak_rows, "keep", "killed.py", line) == 2 * 2_000_001


def test_reports_take_the_set(tmp_path):
    child = write(tmp_path / "child.py", CHILD)
    parent = write(tmp_path / "parent.py", SEPARATE)
    capset, _ = run_tree(tmp_path, parent)
    for cmd in (["memray-summary"], ["memray-tree"], ["memray-stats"]):
        proc = run([program(cmd[0]), capset])
        assert proc.returncode == 0, (cmd, proc.stderr)
    proc = run([program("memray-flamegraph"), "-o", tmp_path / "f.html", capset])
    assert proc.returncode == 0, proc.stderr
    assert "child.py" in (tmp_path / "f.html").read_text()
    # `memray-stats capset/ | jq .metadata.peak_memory`
    doc, _ = stats(capset)
    assert isinstance(doc["metadata"]["peak_memory"], int)
    bad = run([program("memray-stats"), "--pid", "1", capset])
    assert bad.returncode == 1 and "has no capture of process 1" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    temporal = run([program("memray-flamegraph"), "--temporal", "-o", tmp_path / "t.html",
                    capset])
    assert temporal.returncode == 1 and "--pid" in temporal.stderr


def test_by_process_and_a_set_given_as_several_files(tmp_path):
    child = write(tmp_path / "child.py", CHILD)
    line = marks(child)["hold"]
    parent = write(tmp_path / "parent.py", SEPARATE)
    capset, _ = run_tree(tmp_path, parent)
    files = sorted(str(p) for p in capset.iterdir())
    whole, _ = stats(capset)
    procs = whole["metadata"]["processes"]
    # The files named one by one are the same set as their directory.
    listed, _ = stats(*files)
    assert listed["metadata"]["processes"] == procs
    assert listed["metadata"]["peak_memory"] == whole["metadata"]["peak_memory"]
    assert bytes_at(peak_rows(*files), "hold", "child.py", line) == MB10 + 1
    # --by-process: one document per process, in order of start, each its own peak.
    docs, _ = stats(capset, "--by-process")
    assert [d["metadata"]["pid"] for d in docs] == [p["pid"] for p in procs]
    assert [d["metadata"]["peak_memory"] for d in docs] == [p["peak_memory"] for p in procs]
    # The text reports: one section per process, headed by its pid and parent.
    for tool in ("memray-tree", "memray-summary", "memray-stats"):
        out = assert_ok(run([program(tool), "--by-process", capset])).stdout
        if tool == "memray-stats":
            assert out.lstrip().startswith("[")
            continue
        heads = [l for l in out.splitlines() if l.startswith("== Process ")]
        assert len(heads) == 3, out
        for p, head in zip(procs, heads):
            assert head.startswith(f"== Process {p['pid']}")
            if p["parent_pid"]:
                assert f"(parent {p['parent_pid']})" in head
    text = assert_ok(run([program("memray"), "stats", "--by-process", capset])).stdout
    assert text.count("== Process ") == 3
    # Two children each hold 10 MB at their own peak: each child's tree shows it.
    tree = assert_ok(run([program("memray-tree"), "--by-process", capset])).stdout
    sections = tree.split("== Process ")[1:]
    held = [s for s in sections if f"10.000MB" in s and f"child.py:{line}\n" in s]
    assert len(held) == 2, tree
    bad = run([program("memray-stats"), files[0], tmp_path / "missing.bin"])
    assert bad.returncode == 1 and bad.stderr.strip().endswith("missing.bin")
    assert len(bad.stderr.strip().splitlines()) == 1


# A forked child that replaces itself (os.execv) with another Python: the fork's capture is
# finished at the exec (whole, not cut short), and the new image, the same pid, is tracked
# from its start through the environment into a capture of its own.
EXEC = """
import os, sys
def held():
    return bytearray(4_000_000)  # @held
if sys.argv[1:] == ["after-exec"]:
    block = held()
    print("exec'd", os.getpid())
else:
    pid = os.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "exec.py", "after-exec"])
    _, status = os.waitpid(pid, 0)
    print("child", pid, os.waitstatus_to_exitcode(status))
"""


def test_a_child_that_execs_a_python_is_tracked(tmp_path):
    script = write(tmp_path / "exec.py", EXEC)
    line = marks(script)["held"]
    capset, proc = run_tree(tmp_path, script)
    lines = proc.stdout.splitlines()
    child_pid = int(lines[0].split()[1])
    assert lines[1] == f"child {child_pid} 0"
    doc, proc = stats(capset)
    assert "cut short" not in proc.stderr
    procs = doc["metadata"]["processes"]
    root = next(p for p in procs if p["parent_pid"] == 0)
    images = [p for p in procs if p["pid"] == child_pid]
    assert len(procs) == 3 and len(images) == 2, procs
    before, after = sorted(images, key=lambda p: p["path"])
    assert before["path"].endswith(f"out.bin.{child_pid}")
    assert before["command_line"] == root["command_line"]
    assert after["path"].endswith(f"out.bin.{child_pid}-1")
    assert after["command_line"].endswith("exec.py after-exec")
    assert all(p["complete"] for p in procs)
    assert before["parent_pid"] == after["parent_pid"] == root["pid"]
    assert records_by_leaf(capset)[("held", "exec.py", line)] == [4_000_001]
