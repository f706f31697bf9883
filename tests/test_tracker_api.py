"""``memray.Tracker`` used directly: destinations, one tracker at a time, memory snapshots,
metadata."""

import json

import pytest

from memray import AllocatorType as A

from conftest import Capture, child_env, listcomp_function, marks, run_python, write


def test_refuses_an_existing_file_unless_overwrite(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        from memray import FileDestination

        out = sys.argv[1]
        try:
            with memray.Tracker(out):
                print("entered")
        except FileExistsError as e:
            print("FileExistsError:", e)
        with open(out, "rb") as f:
            print("untouched" if f.read() == b"precious" else "clobbered")
        with memray.Tracker(destination=FileDestination(out, overwrite=True)):
            keep = bytearray(246_810)
        print("overwritten")
    """)
    (tmp_path / "out.bin").write_bytes(b"precious")
    proc = run_python(script, "out.bin")
    assert proc.stdout == (
        "FileExistsError: Output file out.bin already exists. Memray can overwrite it with the "
        "--force CLI argument or the overwrite=True API argument.\n"
        "untouched\noverwritten\n"
    )
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 246_811)) == 1


def test_one_tracker_at_a_time(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        KEEP = []
        with memray.Tracker(sys.argv[1]):
            KEEP.append(bytearray(135_790))
            try:
                with memray.Tracker(sys.argv[2]):
                    print("nested entered")
            except RuntimeError as e:
                print("RuntimeError:", e)
            KEEP.append(bytearray(135_791))  # still tracking into the first file
        print("done")
    """)
    proc = run_python(script, "a.bin", "b.bin")
    assert proc.stdout.splitlines()[0].startswith("RuntimeError: ")
    assert proc.stdout.splitlines()[1:] == ["done"]
    cap = Capture(tmp_path / "a.bin")
    assert len(cap.sized(cap.allocs, 135_791)) == 1
    assert len(cap.sized(cap.allocs, 135_792)) == 1


def test_file_name_or_destination(tmp_path):
    script = write(tmp_path / "prog.py", """
        import memray
        from memray import FileDestination
        for kwargs in ({}, {"file_name": "x.bin", "destination": FileDestination("y.bin")}):
            try:
                memray.Tracker(**kwargs)
            except TypeError:
                print("TypeError")
    """)
    assert run_python(script).stdout == "TypeError\nTypeError\n"


def test_memory_snapshots(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys, time
        import memray

        with memray.Tracker(sys.argv[1], memory_interval_ms=5):
            time.sleep(0.15)
            big = bytearray(30_000_000)
            time.sleep(0.15)
    """)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    snaps = cap.snapshots
    assert len(snaps) >= 10
    assert all(s.rss > 0 for s in snaps)
    times = [s.time for s in snaps]
    assert times == sorted(times) and len(set(times)) == len(times)
    # The 30 MB block shows up in the heap and (bytearray zeroes it) in the RSS.
    assert max(s.heap for s in snaps) >= 30_000_001
    assert max(s.rss for s in snaps) - min(s.rss for s in snaps) >= 25_000_000
    start = cap.metadata.start_time.timestamp() * 1000
    end = cap.metadata.end_time.timestamp() * 1000
    assert start - 1000 <= times[0] <= times[-1] <= end + 1000


def test_metadata_of_a_tracker(tmp_path):
    script = write(tmp_path / "prog.py", """
        import json, os, sys
        import memray

        with memray.Tracker(sys.argv[1]):
            keep = bytearray(97_531)
        print(json.dumps({"pid": os.getpid(), "argv": sys.argv}))
    """)
    proc = run_python(script, "out.bin", "extra arg")
    info = json.loads(proc.stdout)
    cap = Capture(tmp_path / "out.bin")
    meta = cap.metadata
    assert meta.pid == info["pid"]
    assert meta.command_line == " ".join(info["argv"])
    assert meta.python_allocator == "pymalloc"
    assert meta.has_native_traces is False and meta.trace_python_allocators is False
    (rec,) = cap.sized(cap.allocs, 97_532)
    assert rec.tid == meta.main_thread_id
    assert meta.total_allocations == len(cap.records)
    assert meta.peak_memory >= 97_532


def test_python_allocator_malloc(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        def f():
            return [bytearray(24) for _ in range(10)]  # @small

        with memray.Tracker(sys.argv[1]):
            keep = f()
    """)
    m = marks(script)
    run_python(script, "out.bin", env=child_env(PYTHONMALLOC="malloc"))
    cap = Capture(tmp_path / "out.bin")
    assert cap.metadata.python_allocator == "malloc"
    # With PYTHONMALLOC=malloc every object goes to malloc: 10 bytearray objects (56 bytes)
    # and their 25-byte buffers (realloc of NULL).
    hits = [(A(r.allocator), r.size) for r in cap.at(cap.allocs, listcomp_function("f"), m["small"])
            if r.size in (25, 56)]
    assert sorted(hits) == [(A.MALLOC, 56)] * 10 + [(A.REALLOC, 25)] * 10


def test_tracking_stops_at_exit_of_the_with_block(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        before = bytearray(111_222)
        with memray.Tracker(sys.argv[1]):
            during = bytearray(111_333)
        after = bytearray(111_444)
    """)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    assert cap.sized(cap.records, 111_223) == []
    assert len(cap.sized(cap.allocs, 111_334)) == 1
    assert cap.sized(cap.records, 111_445) == []


def test_exception_inside_the_with_block_finishes_the_capture(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        try:
            with memray.Tracker(sys.argv[1]):
                keep = bytearray(121_212)
                raise KeyError("x")
        except KeyError:
            print("caught")
    """)
    assert run_python(script, "out.bin").stdout == "caught\n"
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 121_213)) == 1


def test_tracker_inside_a_function_hides_outer_frames_on_the_main_thread(tmp_path):
    """Memray's rule: on the main thread, frames above the one that entered the Tracker are
    not reported."""
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        def alloc():
            return bytearray(212_121)  # @alloc

        def profile():
            with memray.Tracker(sys.argv[1]):
                return alloc()  # @call

        def outer():
            return profile()

        keep = outer()
    """)
    m = marks(script)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    (rec,) = cap.sized(cap.allocs, 212_122)
    assert cap.short_stack(rec) == [("alloc", "prog.py", m["alloc"]),
                                    ("profile", "prog.py", m["call"])]


def test_tracker_never_exited(tmp_path):
    """A tracker left active when the interpreter exits: no crash, and the capture is
    readable and holds what was allocated."""
    script = write(tmp_path / "prog.py", """
        import sys, time
        import memray

        tracker = memray.Tracker(sys.argv[1])
        tracker.__enter__()
        KEEP = [bytearray(270_000)]
        time.sleep(0.7)
        print("end")
    """)
    proc = run_python(script, "out.bin")
    assert proc.stdout == "end\n" and proc.stderr == ""
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 270_001)) == 1


def test_heap_of_snapshots_never_exceeds_the_peak(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys, time
        import memray

        with memray.Tracker(sys.argv[1], memory_interval_ms=2):
            for n in (5, 10, 20, 10, 5):
                block = bytearray(n * 1_000_000)
                time.sleep(0.03)
                del block
    """)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    heaps = [s.heap for s in cap.snapshots]
    assert max(heaps) <= cap.metadata.peak_memory
    assert max(heaps) >= 20_000_001
    assert cap.metadata.peak_memory >= 20_000_001


def test_tracker_never_exited_and_exit_right_away(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        tracker = memray.Tracker(sys.argv[1])
        tracker.__enter__()
        KEEP = [bytearray(270_000)]
    """)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 270_001)) == 1


def test_tracker_threads_are_not_recorded(tmp_path):
    """Nothing of the tracker's own (its RSS sampler, its writer, its buffers) is recorded: a
    single-threaded program's allocations all come from its main thread, with a stack."""
    script = write(tmp_path / "prog.py", """
        import sys, time
        import memray

        for n in range(8):
            with memray.Tracker(f"out{n}.bin"):
                keep = bytearray(10_000 + n)
                time.sleep(0.05)  # let the tracker's threads run
    """)
    run_python(script)
    foreign = []
    for n in range(8):
        cap = Capture(tmp_path / f"out{n}.bin")
        main = cap.metadata.main_thread_id
        foreign += [(n, r.tid, r.size, A(r.allocator).name) for r in cap.records if r.tid != main]
        assert len(cap.sized(cap.allocs, 10_001 + n)) == 1
        assert [r for r in cap.allocs if r.tid == main and not cap.stack(r)] == []
    assert foreign == []
