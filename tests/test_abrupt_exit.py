"""A tracked program that dies without finishing its capture (SIGKILL, os._exit) leaves a
capture that the readers accept, holding what was allocated before the end."""

import os
import signal
import subprocess

import pytest

from memray import AllocatorType as A

from conftest import BIN, Capture, child_env, marks, program, run_python, stats_json, \
    stats_locations, write

KILLED = """
import time

KEEP = []


def before_kill():
    KEEP.append(bytearray(6_666_666))  # @big


def churn(i):
    KEEP.append(bytearray(10_000 + i))  # @churn


before_kill()
start = time.monotonic()
i = 0
while time.monotonic() - start < 1.5:
    churn(i)
    i += 1
    time.sleep(0.01)
print(i, flush=True)
time.sleep(60)
"""


def test_sigkill_leaves_a_readable_capture(tmp_path):
    script = write(tmp_path / "prog.py", KILLED)
    m = marks(script)
    proc = subprocess.Popen([program("memray"), "run", "-q", "-o", "out.bin", "prog.py"],
                            cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        churned = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert churned > 20

    cap = Capture(tmp_path / "out.bin")
    (big,) = cap.sized(cap.allocs, 6_666_667)
    assert cap.short_stack(big)[0] == ("before_kill", "prog.py", m["big"])
    assert big.allocator == A.MALLOC
    # The allocations of the first second (at least) made it to the file, in order.
    churn_sizes = sorted(r.size - 10_001 for r in cap.at(cap.allocs, "churn", m["churn"])
                         if r.allocator == A.MALLOC and r.size >= 10_001)
    assert len(churn_sizes) >= 40
    assert churn_sizes == list(range(len(churn_sizes)))
    # The killed program's blocks are all still live: leaks and peak include them.
    assert cap.group_at(cap.leaks, "before_kill", m["big"]) == (6_666_667, 1)
    assert cap.group_at(cap.peak, "before_kill", m["big"]) == (6_666_667, 1)
    assert cap.metadata.peak_memory >= 6_666_667 + sum(10_001 + s for s in churn_sizes)

    doc, st = stats_json(tmp_path / "out.bin")
    if str(st.args[0]).endswith("memray-stats"):  # (Memray's own `memray stats` says nothing)
        assert "cut short" in st.stderr
    assert stats_locations(doc)[f"before_kill:prog.py:{m['big']}"] == 6_666_667
    assert doc["metadata"]["pid"] == cap.metadata.pid


OS_EXIT = """
import os, sys, time
import memray

KEEP = []


def alloc(n):
    KEEP.append(bytearray(n))  # @alloc


with memray.Tracker(sys.argv[1]):
    alloc(5_555_555)
    time.sleep(float(sys.argv[2]))
    alloc(4_444_444)
    os._exit(3)
"""


def _os_exit(tmp_path, delay):
    script = write(tmp_path / "prog.py", OS_EXIT)
    proc = run_python(script, tmp_path / "out.bin", str(delay), check=False)
    assert proc.returncode == 3, proc.stderr
    return Capture(tmp_path / "out.bin"), marks(script)


def test_os_exit_inside_the_tracker(tmp_path):
    cap, m = _os_exit(tmp_path, 1.2)
    (rec,) = cap.sized(cap.allocs, 5_555_556)
    assert cap.leaf(rec) == ("alloc", "prog.py", m["alloc"])
    doc, st = stats_json(tmp_path / "out.bin")
    locs = stats_locations(doc)
    (loc,) = [k for k in locs if k.startswith("alloc:") and k.endswith(f"prog.py:{m['alloc']}")]
    assert locs[loc] >= 5_555_556


def test_os_exit_right_after_allocating(tmp_path):
    """Memray 1.20 writes every record straight into the (mmap'ed) file, so what came just
    before os._exit is in the capture."""
    cap, m = _os_exit(tmp_path, 0)
    sizes = sorted(r.size for r in cap.at(cap.allocs, "alloc", m["alloc"]))
    assert sizes == [4_444_445, 5_555_556]


def test_sigkill_of_a_tracker_script_while_threads_allocate(tmp_path):
    write(tmp_path / "prog.py", """
        import sys, threading, time
        import memray

        KEEP = []

        def work(i):
            while True:
                KEEP.append(bytearray(1000 + i))
                if len(KEEP) > 5000:
                    KEEP.clear()
                time.sleep(0.001)

        with memray.Tracker(sys.argv[1]):
            KEEP.append(bytearray(3_333_333))
            for i in range(4):
                threading.Thread(target=work, args=(i,), daemon=True).start()
            time.sleep(1.2)
            print("ok", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([str(BIN / "python"), "prog.py", "out.bin"], cwd=tmp_path,
                            env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ok\n"
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 3_333_334)) == 1
    tids = {r.tid for r in cap.allocs if 1001 <= r.size <= 1004}
    assert len(tids) == 4


def test_segfault_leaves_a_readable_capture_and_its_status(tmp_path):
    """A program that crashes (SIGSEGV) under `memray run`: the crash is its own exit status,
    and the capture holds everything up to the last sealed chunk (sealed every 0.5 s)."""
    script = tmp_path / "crash.py"
    script.write_text(
        "import ctypes, time\n"
        "def grab():\n"
        "    return bytearray(3_141_592)\n"
        "KEEP = grab()\n"
        "time.sleep(1.2)\n"
        "ctypes.string_at(0)\n"
    )
    proc = subprocess.run(
        [os.path.join(BIN, "memray"), "run", "-q", "-o", "out.bin", "crash.py"],
        cwd=tmp_path, capture_output=True, text=True, env=child_env(),
    )
    assert proc.returncode in (-signal.SIGSEGV, 128 + signal.SIGSEGV), proc
    stats = subprocess.run(
        [os.path.join(BIN, "memray-stats"), "--json", str(tmp_path / "out.bin")],
        capture_output=True, text=True,
    )
    assert stats.returncode == 0, stats.stderr
    assert "cut short" in stats.stderr
    import json

    top = json.loads(stats.stdout)["top_allocations_by_size"][0]
    assert top == {"location": "grab:crash.py:3", "size": 3_141_593}
    for report in ("memray-summary", "memray-tree"):
        r = subprocess.run([os.path.join(BIN, report), str(tmp_path / "out.bin")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "grab" in r.stdout, (report, r.stderr)


def test_running_out_of_memory_under_a_limit(tmp_path):
    """Under `ulimit -v` the program meets MemoryError as it would bare, handles it, and exits
    normally; the capture is complete and readable."""
    import resource

    script = tmp_path / "oom.py"
    script.write_text(
        "blocks = []\n"
        "try:\n"
        "    while True:\n"
        "        blocks.append(bytearray(10_000_000))\n"
        "except MemoryError:\n"
        "    blocks.clear()\n"
        "    print('caught')\n"
    )

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (800_000_000, 800_000_000))

    proc = subprocess.run(
        [os.path.join(BIN, "memray"), "run", "-q", "-o", "out.bin", "oom.py"],
        cwd=tmp_path, capture_output=True, text=True, env=child_env(), preexec_fn=limit,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "caught\n"
    stats = subprocess.run(
        [os.path.join(BIN, "memray-stats"), "--json", str(tmp_path / "out.bin")],
        capture_output=True, text=True,
    )
    assert stats.returncode == 0 and stats.stderr == "", stats.stderr


# A function whose name alone is 3 MB: its definition is one record larger than a slot of the
# journal's ring (2 MiB), so its chunk reaches the file through the writer thread instead.
HUGE_NAME = """
import sys, time
from memray._test import MemoryAllocator

KEEP = MemoryAllocator()
NAME = "f" + "x" * 3_000_000
exec(f"def {NAME}(n):\\n    KEEP.malloc(n)\\n", globals())
KEEP.malloc(1_111_117)
globals()[NAME](2_222_222)
KEEP.malloc(3_333_331)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_record_larger_than_a_journal_slot_is_kept(tmp_path):
    write(tmp_path / "prog.py", HUGE_NAME)
    proc = subprocess.Popen([program("memray"), "run", "-q", "-o", "out.bin", "prog.py"],
                            cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    cap = Capture(tmp_path / "out.bin")
    (huge,) = cap.sized(cap.allocs, 2_222_222)
    # (the innermost frame is MemoryAllocator.malloc, a Python wrapper as in Memray)
    assert cap.short_stack(huge)[1] == ("f" + "x" * 3_000_000, "<string>", 2)
    assert len(cap.sized(cap.allocs, 1_111_117)) == 1
    assert len(cap.sized(cap.allocs, 3_333_331)) == 1
