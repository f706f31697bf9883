"""The hard cases of a tracker: the first allocation of new threads, frees in another thread
than the allocation, thread-local storage in dlopen'ed libraries, many allocations, daemon
threads at interpreter shutdown, fork, exceptions unwinding frames, asyncio, user profilers."""

import pytest

from memray import AllocatorType as A

from conftest import CLIB_PRELUDE, Capture, assert_ok, marks, memray_run, run_python, \
    stats_counts, stats_json, write

NATIVE = CLIB_PRELUDE + '''
import sys
import memray

out, libpath, what = sys.argv[1], sys.argv[2], sys.argv[3]
lib = load_clib(libpath)


def first_allocations():
    return lib.t_many_threads(64, 400_000)  # @many


def cross():
    lib.t_cross_thread_free(20_000, 33_333)  # @cross


def tls():
    return lib.t_tls_threads(20, 44_444)  # @tls


def churn():
    lib.t_churn(200_000, 4_321)  # @churn


with memray.Tracker(out):
    print(globals()[what]())
'''


def _native(tmp_path, clib, what):
    script = write(tmp_path / "prog.py", NATIVE)
    proc = run_python(script, "out.bin", clib, what, timeout=120)
    return Capture(tmp_path / "out.bin"), proc


def test_first_allocation_of_every_new_thread(tmp_path, clib):
    cap, proc = _native(tmp_path, clib, "first_allocations")
    assert proc.stdout == "64\n"
    hits = [r for r in cap.allocs if 400_000 <= r.size < 400_064]
    assert sorted(r.size for r in hits) == list(range(400_000, 400_064))
    assert all(r.allocator == A.MALLOC and cap.stack(r) == [] for r in hits)
    assert len({r.tid for r in hits}) == 64
    assert cap.metadata.main_thread_id not in {r.tid for r in hits}
    # each block is freed by its thread
    freed = {r.address for r in cap.frees if r.allocator == A.FREE}
    assert all(r.address in freed for r in hits)
    assert not [r for r in cap.leaks if 400_000 <= r.size < 400_064]


def test_free_in_another_thread_replays_in_order(tmp_path, clib):
    cap, _ = _native(tmp_path, clib, "cross")
    blocks = cap.sized(cap.allocs, 33_333)
    assert len(blocks) == 20_000
    assert all(r.tid != cap.metadata.main_thread_id for r in blocks)
    # Every block was freed (by the consumer thread); the addresses are reused constantly, so a
    # free written before its allocation would show up as a leak here.
    assert [r for r in cap.leaks if r.size >= 33_333] == []
    live = [r for r in cap.peak if r.size >= 33_333 and r.size % 33_333 == 0]
    # at most the queue (8) plus one in the producer's and the consumer's hands are live
    assert sum(r.n_allocations for r in live) <= 10
    doc, _ = stats_json(cap.path)
    assert stats_counts(doc)["<stack trace unavailable>"] >= 20_000


def test_thread_local_storage_in_a_dlopened_library(tmp_path, clib):
    cap, proc = _native(tmp_path, clib, "tls")
    assert proc.stdout == "20\n"
    assert len(cap.sized(cap.allocs, 44_444)) == 20


def test_many_allocations(tmp_path, clib):
    cap, _ = _native(tmp_path, clib, "churn")
    doc, _ = stats_json(cap.path)
    m = marks(tmp_path / "prog.py")
    loc = f"churn:{tmp_path / 'prog.py'}:{m['churn']}"
    assert stats_counts(doc)[loc] == 200_000
    assert {e["location"]: e["size"] for e in doc["top_allocations_by_size"]}[loc] == \
        200_000 * 4_321
    assert doc["allocator_type_distribution"]["MALLOC"] >= 200_000


def test_daemon_threads_allocating_at_interpreter_shutdown(tmp_path, clib):
    write(tmp_path / "prog.py", CLIB_PRELUDE + f'''
import threading, time
lib = load_clib({str(clib)!r})

def spin(i):
    while True:
        p = lib.t_malloc(1000 + i)
        lib.t_free(p)
        x = bytearray(2000 + i)
        time.sleep(0.0005)

for i in range(4):
    threading.Thread(target=spin, args=(i,), daemon=True).start()
time.sleep(0.3)
print("bye")
''')
    for _ in range(3):
        proc = assert_ok(memray_run(["-q", "-f", "-o", "out.bin", "prog.py"], cwd=tmp_path))
        assert proc.stdout == "bye\n" and proc.stderr == ""
        cap = Capture(tmp_path / "out.bin")
        main = cap.metadata.main_thread_id
        assert len({r.tid for r in cap.allocs if 1000 <= r.size < 1004 and r.tid != main}) == 4


FORK = '''
import os, sys
import memray

KEEP = []


def in_child():
    KEEP.append(bytearray(707_070))  # @child


def in_parent():
    KEEP.append(bytearray(808_080))  # @parent


in_parent()
pid = os.fork()
if pid == 0:
    in_child()
    if sys.argv[1] == "os._exit":
        os._exit(0)
    sys.exit(0)
_, status = os.waitpid(pid, 0)
print(os.getpid(), pid, status)
'''


@pytest.mark.parametrize("child_exit", ["sys.exit", "os._exit"])
def test_fork_without_follow_fork(tmp_path, child_exit):
    script = write(tmp_path / "prog.py", FORK)
    m = marks(script)
    proc = assert_ok(memray_run(["-q", "-o", "out.bin", "prog.py", child_exit], cwd=tmp_path))
    parent, child, status = map(int, proc.stdout.split())
    assert status == 0
    cap = Capture(tmp_path / "out.bin")
    assert cap.metadata.pid == parent
    (rec,) = cap.sized(cap.allocs, 808_081)
    assert cap.leaf(rec) == ("in_parent", "prog.py", m["parent"])
    assert cap.sized(cap.records, 707_071) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "prog.py"]


@pytest.mark.parametrize("child_exit", [
    "sys.exit",
    pytest.param("os._exit"),
])
def test_follow_fork(tmp_path, child_exit):
    script = write(tmp_path / "prog.py", FORK)
    m = marks(script)
    proc = assert_ok(memray_run(["-q", "--follow-fork", "-o", "out.bin", "prog.py", child_exit],
                                cwd=tmp_path))
    parent, child, status = map(int, proc.stdout.split())
    assert status == 0
    cap = Capture(tmp_path / "out.bin")
    assert cap.sized(cap.records, 707_071) == []
    kid = Capture(tmp_path / f"out.bin.{child}")
    assert kid.metadata.pid == child
    (rec,) = kid.sized(kid.allocs, 707_071)
    assert kid.leaf(rec) == ("in_child", "prog.py", m["child"])
    assert kid.sized(kid.records, 808_081) == []


FRAMES = '''
import asyncio, sys
import memray

KEEP = []


def raiser(n):
    if n == 0:
        raise ValueError
    raiser(n - 1)


def after_exception():
    try:
        raiser(20)
    except ValueError:
        KEEP.append(bytearray(180_000))  # @in_except
    KEEP.append(bytearray(180_001))  # @after_except


def in_finally():
    try:
        try:
            raiser(5)
        finally:
            KEEP.append(bytearray(180_002))  # @finally
    except ValueError:
        pass


async def coro():
    await asyncio.sleep(0)
    KEEP.append(bytearray(190_000))  # @coro_1
    await asyncio.sleep(0.001)
    KEEP.append(bytearray(190_001))  # @coro_2


async def main_coro():
    await asyncio.gather(coro())  # @gather


def profiler(frame, event, arg):
    pass


def with_user_profiler():
    sys.setprofile(profiler)
    KEEP.append(bytearray(200_000))  # @profiled
    sys.setprofile(None)
    sys.settrace(lambda *a: None)
    KEEP.append(bytearray(200_001))  # @traced
    sys.settrace(None)


with memray.Tracker(sys.argv[1]):
    after_exception()  # @call_after
    in_finally()
    asyncio.run(main_coro())
    with_user_profiler()
    KEEP.append(bytearray(210_000))  # @end
'''


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    d = tmp_path_factory.mktemp("frames")
    script = write(d / "prog.py", FRAMES)
    run_python(script, "out.bin")
    return Capture(d / "out.bin"), marks(script)


def _stack(cap, size):
    (rec,) = cap.sized(cap.allocs, size)
    return cap.short_stack(rec)


def test_stack_after_an_exception_unwound_frames(frames):
    cap, m = frames
    assert _stack(cap, 180_001) == [("after_exception", "prog.py", m["in_except"]),
                                    ("<module>", "prog.py", m["call_after"])]
    assert _stack(cap, 180_002) == [("after_exception", "prog.py", m["after_except"]),
                                    ("<module>", "prog.py", m["call_after"])]
    stack = _stack(cap, 180_003)
    assert stack[0] == ("in_finally", "prog.py", m["finally"])
    assert stack[1][0] == "<module>" and len(stack) == 2


def test_coroutine_frames(frames):
    cap, m = frames
    for size, mark in [(190_001, "coro_1"), (190_002, "coro_2")]:
        stack = _stack(cap, size)
        assert stack[0] == ("coro", "prog.py", m[mark])
        names = [f[0] for f in stack]
        assert "run_until_complete" in names or "run" in names
        assert stack[-1][0] == "<module>"


def test_user_profile_and_trace_functions(frames):
    cap, m = frames
    assert _stack(cap, 200_001)[0] == ("with_user_profiler", "prog.py", m["profiled"])
    assert _stack(cap, 200_002)[0] == ("with_user_profiler", "prog.py", m["traced"])
    assert _stack(cap, 210_001) == [("<module>", "prog.py", m["end"])]


def test_deep_stack(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        sys.setrecursionlimit(3000)

        def down(n):
            if n == 0:
                return bytearray(220_000)  # @leaf
            return down(n - 1)  # @rec

        with memray.Tracker(sys.argv[1]):
            keep = down(900)  # @call
    """)
    m = marks(script)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    stack = _stack(cap, 220_001)
    assert stack == [("down", "prog.py", m["leaf"])] + [("down", "prog.py", m["rec"])] * 900 + \
        [("<module>", "prog.py", m["call"])]


def test_allocation_in_a_signal_handler(tmp_path):
    script = write(tmp_path / "prog.py", """
        import os, signal, sys
        import memray

        KEEP = []

        def handler(signum, frame):
            KEEP.append(bytearray(230_000))  # @handler

        def busy():
            os.kill(os.getpid(), signal.SIGUSR1)
            # Python runs the handler at its next check for pending signals: wait for it.
            for _ in range(10_000_000):
                if KEEP:
                    break
            return len(KEEP)

        signal.signal(signal.SIGUSR1, handler)
        with memray.Tracker(sys.argv[1]):
            print(busy())
    """)
    m = marks(script)
    assert run_python(script, "out.bin").stdout == "1\n"
    cap = Capture(tmp_path / "out.bin")
    stack = _stack(cap, 230_001)
    assert stack[0] == ("handler", "prog.py", m["handler"])
    assert stack[1][0] == "busy"


CHURN_THREADS = CLIB_PRELUDE + '''
import os, sys, threading, time
import memray

lib = load_clib(sys.argv[1])
what = sys.argv[2]
stop = threading.Event()


turns = [0]


def churn(i):
    while not stop.is_set():
        lib.t_free(lib.t_malloc(3000 + i))
        junk = [str(j) for j in range(50)]
        bytes(5000 + i)
        turns[0] += 1
        time.sleep(0.0002)


threads = [threading.Thread(target=churn, args=(i,), daemon=True) for i in range(3)]
for t in threads:
    t.start()

if what == "start_stop":
    for n in range(25):
        with memray.Tracker(f"out{n}.bin", trace_python_allocators=bool(n % 2)):
            keep = bytearray(300_000 + n)
            # At least one whole turn of another thread while tracking, however loaded the
            # machine (the three turns under way when tracking started may end first).
            seen = turns[0]
            deadline = time.monotonic() + 30
            while turns[0] < seen + 4 and time.monotonic() < deadline:
                time.sleep(0.001)
    print("ok")
stop.set()
for t in threads:
    t.join()
'''


def test_start_and_stop_while_other_threads_allocate(tmp_path, clib):
    script = write(tmp_path / "prog.py", CHURN_THREADS)
    proc = run_python(script, clib, "start_stop", timeout=120)
    assert proc.stdout == "ok\n"
    for n in range(25):
        cap = Capture(tmp_path / f"out{n}.bin")
        (rec,) = cap.sized(cap.allocs, 300_001 + n)
        assert rec.tid == cap.metadata.main_thread_id
        assert cap.metadata.trace_python_allocators is bool(n % 2)
        assert len({r.tid for r in cap.allocs}) >= 2


FORK_RACE = CLIB_PRELUDE + '''
import os, sys, threading, time
import memray

lib = load_clib(sys.argv[1])
hung = 0
with memray.Tracker("out.bin"):
    # C threads that do nothing but malloc and free, without the GIL.
    for _ in range(3):
        threading.Thread(target=lib.t_churn, args=(10**12, 3000), daemon=True).start()
    time.sleep(0.05)
    for n in range(300):
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        deadline = time.monotonic() + 1.5
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 7, status
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                hung += 1
                break
            time.sleep(0.0005)
        if hung:
            break
    print(f"forks={n + 1} hung={hung}", flush=True)
    # the churning thread never stops: leave without waiting for it
    os._exit(0)
'''


def test_fork_while_another_thread_allocates(tmp_path, clib):
    """No deadlock in the child: a lock held (or waited for) by another thread at fork time
    must not stay locked in the child. Memray 1.20 and the bare interpreter pass this."""
    script = write(tmp_path / "prog.py", FORK_RACE)
    proc = run_python(script, clib, timeout=60)
    assert proc.stdout == "forks=300 hung=0\n"


@pytest.mark.parametrize("follow", [False, True])
def test_multiprocessing_pools_finish_normally(tmp_path, follow):
    """fork, spawn and forkserver pools run to completion under `memray run`, with and
    without --follow-fork; followed fork children leave complete captures."""
    import json
    import os
    import subprocess

    from conftest import BIN

    script = tmp_path / "mp.py"
    script.write_text(
        "import multiprocessing as mp\n"
        "def sq(x):\n"
        "    return x * x\n"
        "if __name__ == '__main__':\n"
        "    for method in ('fork', 'spawn', 'forkserver'):\n"
        "        with mp.get_context(method).Pool(2) as p:\n"
        "            print(method, sum(p.map(sq, range(100))))\n"
    )
    flags = ["--follow-fork"] if follow else []
    proc = subprocess.run(
        [os.path.join(BIN, "memray"), "run", "-q", *flags, "-o", "out.bin", "mp.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["fork 328350", "spawn 328350", "forkserver 328350"]
    captures = sorted(p.name for p in tmp_path.glob("out.bin*"))
    if follow:
        assert len(captures) >= 3  # the parent's and the fork pool's two workers
    else:
        assert captures == ["out.bin"]
    for name in captures:
        stats = subprocess.run(
            [os.path.join(BIN, "memray-stats"), "--json", str(tmp_path / name)],
            capture_output=True, text=True,
        )
        assert stats.returncode == 0, (name, stats.stderr)
        json.loads(stats.stdout)
        # Pool workers are ended with SIGTERM by Pool.terminate(): theirs may be cut short
        # (and still read); the program's own capture is whole.
        if name == "out.bin":
            assert "cut short" not in stats.stderr
