"""Nothing recorded is lost when the tracked process is ended by a signal: the capture file is
a journal that every record reaches as it is made. The program's own signal handling is
untouched (the tracker installs no handler), so exit statuses, handlers installed before or
after tracking started, and default actions are exactly as without the profiler."""

import mmap
import os
import signal
import struct
import subprocess
import sys
import time

import pytest

import memray
from memray import AllocatorType as A

from conftest import Capture, child_env, marks, memray_run, run, write, PYTHON

# Every signal whose default action ends the process (SIGKILL aside: see below).
ENDING = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGABRT", "SIGUSR1", "SIGUSR2", "SIGPIPE",
          "SIGALRM", "SIGRTMIN", "SIGRTMIN+3", "SIGRTMAX"]


def signum(name):
    if name.startswith("SIGRTMIN+"):
        return signal.SIGRTMIN + int(name.split("+")[1])
    return int(getattr(signal, name))


DEFAULT_ACTION = """
import os, signal, sys
import memray
from memray._test import MemoryAllocator

sig = int(sys.argv[1])
out = sys.argv[2]
KEEP = [MemoryAllocator() for _ in range(5)]


def allocate():
    for i, a in enumerate(KEEP):
        a.valloc(40_000 + i)  # @valloc


signal.signal(sig, signal.SIG_DFL)  # the default action, even where Python changes it
if out == "-":
    allocate()
    os.kill(os.getpid(), sig)
else:
    with memray.Tracker(out):
        allocate()
        os.kill(os.getpid(), sig)
        signal.pause()
"""


@pytest.mark.parametrize("name", ENDING)
def test_a_signals_default_action_loses_nothing(tmp_path, name):
    script = write(tmp_path / "prog.py", DEFAULT_ACTION)
    sig = signum(name)
    bare = run([PYTHON, script, sig, "-"], cwd=tmp_path)
    tracked = run([PYTHON, script, sig, tmp_path / "out.bin"], cwd=tmp_path)
    # The same end: killed by the signal (its default action), not an exit status.
    assert bare.returncode == -sig, bare.stderr
    assert tracked.returncode == bare.returncode, tracked.stderr
    cap = Capture(tmp_path / "out.bin")
    hits = sorted((r.size, A(r.allocator), cap.leaf(r)) for r in cap.allocs
                  if 40_000 <= r.size < 40_005)
    line = marks(script)["valloc"]
    # memray._test's allocator methods are the innermost Python frame, as in Memray.
    assert [(s, a) for s, a, _ in hits] == [(40_000 + i, A.VALLOC) for i in range(5)]
    assert all(leaf[0] == "valloc" for _, _, leaf in hits)
    stacks = [cap.short_stack(r) for r in cap.allocs if 40_000 <= r.size < 40_005]
    assert all(("allocate", "prog.py", line) in s for s in stacks), stacks


OWN_HANDLER = """
import os, signal, sys
import memray
from memray._test import MemoryAllocator

sig, when, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
KEEP = MemoryAllocator()


def handler(signum, frame):
    print("handled", signum, flush=True)
    KEEP.valloc(55_555)  # @in_handler
    sys.exit(7)


if when == "before":
    signal.signal(sig, handler)
with memray.Tracker(out):
    if when == "after":
        signal.signal(sig, handler)
    assert signal.getsignal(sig) is handler
    os.kill(os.getpid(), sig)
    signal.pause()
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGUSR1", "SIGHUP"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_the_programs_own_handler_runs(tmp_path, name, when):
    script = write(tmp_path / "prog.py", OWN_HANDLER)
    sig = signum(name)
    proc = run([PYTHON, script, sig, when, tmp_path / "out.bin"], cwd=tmp_path)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == f"handled {sig}\n"
    cap = Capture(tmp_path / "out.bin")
    (rec,) = cap.sized(cap.allocs, 55_555)
    assert ("handler", "prog.py", marks(script)["in_handler"]) in cap.short_stack(rec)
    # Tracking ended normally (sys.exit ran the with block's exit): the capture is whole.
    with memray.FileReader(tmp_path / "out.bin") as reader:
        assert reader.metadata.end_time is not None


POOL = """
import sys
import multiprocessing
import memray
from memray._test import MemoryAllocator


def f(n):
    MemoryAllocator().valloc(n * 10)  # @task
    return n


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    with memray.Tracker(sys.argv[1], follow_fork=True):
        with multiprocessing.Pool(3) as p:
            print(p.map(f, [1, 10, 100, 1000]), flush=True)
"""


def test_fork_pool_workers_left_by_with_keep_everything(tmp_path):
    """Leaving `with Pool` terminates the workers with SIGTERM: each worker's capture still has
    every allocation it made, 20 runs out of 20."""
    script = write(tmp_path / "prog.py", POOL)
    line = marks(script)["task"]
    for attempt in range(20):
        d = tmp_path / f"run{attempt}"
        d.mkdir()
        proc = run([PYTHON, script, d / "t.bin"], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "[1, 10, 100, 1000]\n"
        workers = [p for p in d.iterdir() if p.name.startswith("t.bin.")]
        assert len(workers) == 3, (attempt, workers)
        found = []
        for w in workers:
            cap = Capture(w)
            found += [(r.size, cap.leaf(r)) for r in cap.allocs if r.size in (10, 100, 1000, 10000)
                      and r.allocator == A.VALLOC]
            stacks = [cap.short_stack(r) for r in cap.allocs
                      if r.size in (10, 100, 1000, 10000) and r.allocator == A.VALLOC]
            assert all(("f", "prog.py", line) in s for s in stacks), stacks
        assert sorted(size for size, _ in found) == [10, 100, 1000, 10000], (attempt, found)


HOT_LOOP = """
import mmap, struct, sys
from memray._test import MemoryAllocator

counter = open(sys.argv[1], "r+b")
done = mmap.mmap(counter.fileno(), 8)
KEEP = MemoryAllocator()
CHURN = int(sys.argv[2])
i = 0
while True:
    KEEP.malloc(100_000 + (i % 50_000))
    i += 1
    struct.pack_into("Q", done, 0, i)  # after the allocation returned
    junk = [[j] for j in range(CHURN)]
"""


def chunks_after_ring(path):
    """How many chunks a killed tracker's journal holds after its ring (format/FORMAT.md)."""
    data = path.read_bytes()
    at = 16 + struct.unpack_from("<I", data, 12)[0]
    assert data[at:at + 5] == b"MRC1\x08"  # the ring
    at += 36 + struct.unpack_from("<I", data, at + 8)[0]
    n = 0
    while data[at:at + 4] == b"MRC1":
        at += 36 + struct.unpack_from("<I", data, at + 8)[0]
        n += 1
    return n


# With churn, each turn of the loop also makes and frees a few hundred small lists, recorded
# under --trace-python-allocators: some 25 MiB of records, enough to go round the journal's ring
# of chunks (8 slots of about 1 MiB) three times before the kill.
@pytest.mark.parametrize("churn", [0, 300])
def test_sigkill_in_a_hot_allocation_loop_loses_nothing(tmp_path, churn):
    """SIGKILL runs no handler at all: the allocations that returned before it are all in the
    capture (each allocation's record is in the file before malloc returns)."""
    script = write(tmp_path / "prog.py", HOT_LOOP)
    counter = tmp_path / "counter"
    counter.write_bytes(b"\0" * 8)
    flags = ["--trace-python-allocators"] if churn else []
    proc = subprocess.Popen([sys.executable, "-m", "memray", "run", "-q", *flags, "-o", "out.bin",
                             "prog.py", counter, str(churn)], cwd=tmp_path, env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(counter, "r+b") as f:
        done = mmap.mmap(f.fileno(), 8)
        deadline = time.monotonic() + 30
        target = 5_000 if churn else 20_000
        while struct.unpack_from("Q", done, 0)[0] < target and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        completed = struct.unpack_from("Q", done, 0)[0]
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert completed >= target
    if churn:
        # The ring of 8 slots has been gone round three times: 24 chunks or more were appended.
        assert chunks_after_ring(tmp_path / "out.bin") >= 24
    with memray.FileReader(tmp_path / "out.bin") as reader:
        sizes = [r.size for r in reader.get_allocation_records()
                 if r.allocator == A.MALLOC and 100_000 <= r.size < 150_000]
    # The loop's allocations start at the first 100,000 bytes (the interpreter may have made
    # one of these sizes while starting up; in the loop it makes none this big).
    sizes = sizes[sizes.index(100_000):]
    # The first `completed` allocations are all there (one more may have been recorded just
    # before the kill, before its count was stored).
    assert len(sizes) in (completed, completed + 1), (len(sizes), completed)
    assert sizes[:completed] == [100_000 + (i % 50_000) for i in range(completed)]


KILLED_AT_BIRTH = """
import os, signal, sys, time
import memray

with memray.Tracker(sys.argv[1], follow_fork=True):
    for _ in range(20):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        os.kill(pid, signal.SIGTERM)  # at once: the child may not have run a single line
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
print("ok", flush=True)
"""


def test_a_child_terminated_as_it_is_forked_leaves_a_capture(tmp_path):
    """Signals wait from the fork until the child's capture file has its header, so a child
    killed at once (a Pool worker that was never needed) still leaves a capture that reads."""
    script = write(tmp_path / "prog.py", KILLED_AT_BIRTH)
    proc = run([PYTHON, script, tmp_path / "t.bin"], cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "ok\n"), proc.stderr
    children = [p for p in tmp_path.iterdir() if p.name.startswith("t.bin.")]
    assert len(children) == 20
    for child in children:
        with memray.FileReader(child) as reader:
            assert reader.metadata.pid == int(child.name.split(".")[-1])
