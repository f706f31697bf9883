"""Threads: names, per-thread stacks, threads started before tracking, native threads."""

import pytest

from memray import AllocatorType as A

from conftest import CLIB_PRELUDE, Capture, marks, run_python, write

PROGRAM = CLIB_PRELUDE + '''
import ctypes, sys, threading
import memray

out, libpath = sys.argv[1], sys.argv[2]
lib = load_clib(libpath)
KEEP = []
go = threading.Event()


def early_worker():
    go.wait()
    KEEP.append(bytearray(333_333))  # @early


def worker():
    KEEP.append(bytearray(444_444))  # @worker


def prctl_worker():
    lib.t_prctl_name(b"c-named")  # @prctl
    KEEP.append(lib.t_malloc(555_555))  # @prctl_malloc


def renamed_worker():
    threading.current_thread().name = "renamed-py"
    KEEP.append(bytearray(616_161))  # @renamed


CALLS = [777_777, 787_878]


@ctypes.CFUNCTYPE(None)
def callback():
    KEEP.append(bytearray(CALLS.pop(0)))  # @callback


def main_thread_alloc():
    KEEP.append(bytearray(888_888))  # @main


early = threading.Thread(target=early_worker, name="early")
early.start()  # started before tracking, allocates during it

with memray.Tracker(out):
    main_thread_alloc()
    go.set()
    early.join()
    t = threading.Thread(target=worker, name="worker")
    t.start()
    t.join()
    t = threading.Thread(target=prctl_worker)
    t.start()
    t.join()
    t = threading.Thread(target=renamed_worker)
    t.start()
    t.join()
    # A C thread (pthread_create in the library): names itself with prctl and mallocs.
    KEEP.append(lib.t_pthread_job(666_666, b"c-thread", None))
    # A C thread without a name that mallocs, enters Python through a ctypes callback,
    # mallocs again from C, and enters Python again.
    KEEP.append(lib.t_pthread_job(797_979, None, ctypes.cast(callback, ctypes.c_void_p)))
'''


@pytest.fixture(scope="module")
def result(tmp_path_factory, clib):
    d = tmp_path_factory.mktemp("threads")
    script = write(d / "prog.py", PROGRAM)
    run_python(script, d / "out.bin", clib)
    return Capture(d / "out.bin"), marks(script)


def one(cap, size):
    hits = cap.sized(cap.allocs, size)
    assert len(hits) == 1, (size, hits)
    return hits[0]


def test_main_thread(result):
    cap, m = result
    rec = one(cap, 888_889)
    assert rec.tid == cap.metadata.main_thread_id
    assert cap.short_stack(rec)[0] == ("main_thread_alloc", "prog.py", m["main"])
    assert cap.short_stack(rec)[-1][0] == "<module>"


def test_named_worker_thread(result):
    cap, m = result
    rec = one(cap, 444_445)
    assert A(rec.allocator) == A.MALLOC
    assert rec.tid != cap.metadata.main_thread_id
    assert cap.thread_name(rec) == "worker"
    stack = cap.short_stack(rec)
    assert stack[0] == ("worker", "prog.py", m["worker"])
    # A non-main thread keeps its whole stack, down to threading's bootstrap.
    assert [f[0] for f in stack[1:]] == ["run", "_bootstrap_inner", "_bootstrap"]
    assert stack[-1][1] == "threading.py"


def test_thread_started_before_tracking(result):
    cap, m = result
    rec = one(cap, 333_334)
    assert rec.tid != cap.metadata.main_thread_id
    assert cap.thread_name(rec) == "early"
    stack = cap.short_stack(rec)
    assert stack[0] == ("early_worker", "prog.py", m["early"])
    assert [f[0] for f in stack[1:]] == ["run", "_bootstrap_inner", "_bootstrap"]


def test_prctl_from_c_names_the_thread(result):
    cap, m = result
    rec = one(cap, 555_555)
    assert cap.thread_name(rec) == "c-named"
    assert cap.short_stack(rec)[0] == ("prctl_worker", "prog.py", m["prctl_malloc"])


def test_thread_renamed_from_python(result):
    cap, m = result
    rec = one(cap, 616_162)
    assert cap.thread_name(rec) == "renamed-py"
    assert cap.short_stack(rec)[0] == ("renamed_worker", "prog.py", m["renamed"])


def test_threads_have_distinct_ids(result):
    cap, _ = result
    tids = [one(cap, s).tid for s in (888_889, 333_334, 444_445, 555_555, 616_162, 666_666,
                                      797_979)]
    assert len(set(tids)) == len(tids)


def test_c_thread_allocation_without_python_stack(result):
    cap, _ = result
    rec = one(cap, 666_666)
    assert A(rec.allocator) == A.MALLOC
    assert rec.tid != cap.metadata.main_thread_id
    assert cap.stack(rec) == []
    assert cap.thread_name(rec) == "c-thread"
    # It is leaked (kept), and reported without a stack.
    leaks = [r for r in cap.leaks if r.tid == rec.tid]
    assert [(r.size, r.n_allocations) for r in leaks] == [(666_666, 1)]


def test_c_thread_entering_python(result):
    cap, m = result
    first, before, between, second = (one(cap, 777_778), one(cap, 797_979), one(cap, 797_980),
                                      one(cap, 787_879))
    assert len({first.tid, before.tid, between.tid, second.tid}) == 1
    assert first.tid != cap.metadata.main_thread_id
    assert cap.stack(before) == []
    assert cap.short_stack(first) == [("callback", "prog.py", m["callback"])]
    # Back in C after the callback returned: no stale Python frames.
    assert cap.stack(between) == []
    assert cap.short_stack(second) == [("callback", "prog.py", m["callback"])]


def test_stats_location_of_a_c_thread(result):
    from conftest import stats_json, stats_locations

    cap, _ = result
    doc, _ = stats_json(cap.path)
    assert doc["top_allocations_by_size"]  # readable
    locs = stats_locations(doc)
    assert locs["<stack trace unavailable>"] >= 666_666


MANY = '''
import sys, threading
import memray

out = sys.argv[1]
KEEP = [None] * 16


def work(i):
    KEEP[i] = bytearray(100_000 + i)  # @work


threads = [threading.Thread(target=work, args=(i,), name=f"t{i}") for i in range(16)]
with memray.Tracker(out):
    for t in threads:
        t.start()
    for t in threads:
        t.join()
'''


def test_many_threads_each_with_its_name_and_stack(tmp_path):
    script = write(tmp_path / "prog.py", MANY)
    m = marks(script)
    run_python(script, tmp_path / "out.bin")
    cap = Capture(tmp_path / "out.bin")
    seen = set()
    for i in range(16):
        (rec,) = cap.sized(cap.allocs, 100_001 + i)
        assert cap.thread_name(rec) == f"t{i}"
        assert cap.short_stack(rec)[0] == ("work", "prog.py", m["work"])
        seen.add(rec.tid)
    assert len(seen) == 16
    # Peak records split per thread: one group per worker.
    per_thread = {r.tid: r for r in cap.peak if r.tid in seen and r.size >= 100_001}
    assert sorted(r.size for r in per_thread.values()) == [100_001 + i for i in range(16)]


PRE_EXISTING_DEEP = '''
import sys, threading
import memray

KEEP = []
go = threading.Event()
entered = threading.Event()


def inner_wait():
    entered.set()
    go.wait()
    return 1


def middle():
    inner_wait()  # @middle_call
    KEEP.append(bytearray(240_000))  # @middle_alloc
    return 2


def top():
    middle()  # @top_call
    KEEP.append(bytearray(240_001))  # @top_alloc
    fresh()  # @fresh_call


def fresh():
    KEEP.append(bytearray(240_002))  # @fresh_alloc


t = threading.Thread(target=top, name="deep")
t.start()
entered.wait()
with memray.Tracker(sys.argv[1]):
    go.set()
    t.join()
'''


def test_pre_existing_thread_returning_from_frames_entered_before_tracking(tmp_path):
    script = write(tmp_path / "prog.py", PRE_EXISTING_DEEP)
    m = marks(script)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    tail = ["run", "_bootstrap_inner", "_bootstrap"]

    def stack(size):
        (rec,) = cap.sized(cap.allocs, size)
        assert cap.thread_name(rec) == "deep"
        s = cap.short_stack(rec)
        assert [f[0] for f in s[-3:]] == tail
        return s[:-3]

    assert stack(240_001) == [("middle", "prog.py", m["middle_alloc"]),
                              ("top", "prog.py", m["top_call"])]
    assert stack(240_002) == [("top", "prog.py", m["top_alloc"])]
    assert stack(240_003) == [("fresh", "prog.py", m["fresh_alloc"]),
                              ("top", "prog.py", m["fresh_call"])]


RENAMED_FROM_OUTSIDE = '''
import sys, threading
import memray

KEEP = []
renamed = threading.Event()


def work():
    renamed.wait()
    KEEP.append(bytearray(250_000))


with memray.Tracker(sys.argv[1]):
    t = threading.Thread(target=work, name="before")
    t.start()
    t.name = "after"
    renamed.set()
    t.join()
'''


def test_thread_renamed_by_another_thread(tmp_path):
    script = write(tmp_path / "prog.py", RENAMED_FROM_OUTSIDE)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    (rec,) = cap.sized(cap.allocs, 250_001)
    assert cap.thread_name(rec) == "after"


FROM_A_THREAD = '''
import sys, threading
import memray

KEEP = []


def alloc():
    KEEP.append(bytearray(260_000))  # @alloc


def runner():
    with memray.Tracker(sys.argv[1]):
        alloc()  # @call


t = threading.Thread(target=runner, name="runner")
t.start()
t.join()
'''


def test_tracker_started_from_a_non_main_thread(tmp_path):
    script = write(tmp_path / "prog.py", FROM_A_THREAD)
    m = marks(script)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    (rec,) = cap.sized(cap.allocs, 260_001)
    # The thread that entered the Tracker is the capture's "main" thread, and the frames
    # above the one that entered the Tracker are hidden, as on Memray's main thread.
    assert rec.tid == cap.metadata.main_thread_id
    assert cap.short_stack(rec) == [("alloc", "prog.py", m["alloc"]),
                                    ("runner", "prog.py", m["call"])]
