"""Memray's object-lifetime API: ``Tracker(track_object_lifetimes=True)`` and
``Tracker.get_surviving_objects()``, backed by CPython's reference tracer (3.13.3 and later).

Every program runs in a child process, so that a tracker that crashed would fail one test, not
the session."""

import sys
import textwrap

import pytest

from memray import _memray

from conftest import Capture, run_python, write

UNAVAILABLE = _memray.object_lifetimes_unavailable()
needs_tracer = pytest.mark.skipif(
    UNAVAILABLE is not None, reason=f"no object lifetimes on this interpreter: {UNAVAILABLE}"
)

PRELUDE = """
    import gc
    import os
    import sys
    import threading

    import memray

    class Thing:
        def __init__(self, name):
            self.name = name

    def has(objects, obj):
        return any(o is obj for o in objects)

    def named(objects, name):
        return any(isinstance(o, Thing) and o.name == name for o in objects)
"""


def program(tmp_path, *parts):
    return write(tmp_path / "prog.py", "".join(textwrap.dedent(p) for p in (PRELUDE, *parts)))


@pytest.mark.skipif(sys.version_info >= (3, 13, 3), reason="this interpreter has the tracer")
def test_older_interpreters_refuse_with_memrays_error(tmp_path):
    script = program(tmp_path, """
        try:
            memray.Tracker("out.bin", track_object_lifetimes=True)
        except RuntimeError as e:
            print(e)
        print(os.path.exists("out.bin"))
    """)
    version = ".".join(map(str, sys.version_info[:3]))
    assert run_python(script).stdout.splitlines() == [
        "Python object reference tracking requires Python 3.13.3 or later. "
        f"Current version: {version}",
        "False",
    ]


def test_surviving_objects_need_the_option_and_the_end_of_tracking(tmp_path):
    script = program(tmp_path, """
        plain = memray.Tracker("plain.bin")
        with plain:
            Thing("x")
        for tracker in (plain, memray.Tracker("never.bin", native_traces=True)):
            try:
                tracker.get_surviving_objects()
            except RuntimeError as e:
                print(e)
    """)
    assert run_python(script).stdout.splitlines() == [
        "track_object_lifetimes=True was not provided at Tracker construction"
    ] * 2


@needs_tracer
def test_survivors_are_the_objects_made_while_tracking_and_still_alive(tmp_path):
    script = program(tmp_path, """
        before = Thing("before")
        tracker = memray.Tracker("out.bin", track_object_lifetimes=True)
        for when in ("before entering", "while tracking"):
            try:
                tracker.get_surviving_objects()
            except RuntimeError as e:
                print(when, e)
            if when == "before entering":
                tracker.__enter__()
        kept = Thing("kept")
        freed = Thing("freed")
        del freed
        many = [Thing(i) for i in range(1000)]
        del many[400:]
        cycle = [Thing("cycle")]
        cycle.append(cycle)
        del cycle
        gc.collect()
        by_thread = {}
        def work(name):
            by_thread[name] = Thing(f"thread {name}")
            garbage = [Thing(j) for j in range(100)]
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        before.name = "renamed"  # an existing object, changed: not made while tracking
        tracker.__exit__(None, None, None)

        survivors = tracker.get_surviving_objects()
        print(type(survivors).__name__, survivors is tracker.get_surviving_objects())
        print("kept", has(survivors, kept))
        print("before", has(survivors, before))
        print("freed", named(survivors, "freed"))
        print("cycle", named(survivors, "cycle"))
        print("many", sum(isinstance(o, Thing) and isinstance(o.name, int) for o in survivors))
        print("list", has(survivors, many))
        print("threads", all(has(survivors, t) for t in by_thread.values()))
        print("valid", all(repr(o) is not None for o in survivors))
        made_after = Thing("after")
        print("after", has(tracker.get_surviving_objects(), made_after))
    """)
    assert run_python(script).stdout.splitlines() == [
        "before entering Tracking was never started or has not finished yet or failed.",
        "while tracking Tracking was never started or has not finished yet or failed.",
        "tuple True",
        "kept True",
        "before False",
        "freed False",
        "cycle False",
        "many 400",
        "list True",
        "threads True",
        "valid True",
        "after False",
    ]
    # The capture itself is as without the option.
    assert Capture(tmp_path / "out.bin").metadata.total_allocations > 0


@needs_tracer
def test_every_mode_and_resized_strings_bytes_and_tuples(tmp_path):
    # str, bytes and tuple resizes free objects in ways the tracer reported only from 3.13.3;
    # every survivor must be a live object (repr would crash on a freed one).
    script = program(tmp_path, """
        import json
        from memray import FileDestination, FileFormat

        for kwargs in (
            {"native_traces": True, "trace_python_allocators": True},
            {"file_format": FileFormat.AGGREGATED_ALLOCATIONS},
            {"follow_fork": True},
        ):
            keep = []
            with memray.Tracker(
                destination=FileDestination("out.bin", overwrite=True),
                track_object_lifetimes=True, **kwargs
            ) as tracker:
                for i in range(5000):
                    s = "".join(str(j) for j in range(i % 40))
                    b = b"x" * (i % 90) + bytes(i % 7)
                    t = tuple(range(i % 30))
                    doc = json.loads(json.dumps({"s": s, "t": t, "i": i}))
                    if i % 500 == 0:
                        keep.append((s, b, t, doc))
                gc.collect()
            survivors = tracker.get_surviving_objects()
            print(all(repr(o) is not None for o in survivors),
                  all(has(survivors, k) for k in keep),
                  sum(type(o) is tuple and len(o) == 4 for o in survivors) >= len(keep))
            memray.FileReader("out.bin").close()
    """)
    assert run_python(script, timeout=120).stdout.splitlines() == ["True True True"] * 3


TRACER_STATE = """
    import ctypes

    get_tracer = ctypes.pythonapi.PyRefTracer_GetTracer
    get_tracer.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    get_tracer.restype = ctypes.c_void_p

    def tracer():
        data = ctypes.c_void_p()
        return get_tracer(ctypes.byref(data)), data.value
"""


@needs_tracer
def test_the_interpreters_tracer_slot_is_shared_with_tracemalloc(tmp_path):
    script = program(tmp_path, TRACER_STATE, """
        import tracemalloc

        print("idle", tracer() == (None, None))
        # Started before tracking: called after ours, and put back afterwards.
        tracemalloc.start()
        theirs = tracer()
        with memray.Tracker("a.bin", track_object_lifetimes=True) as tracker:
            ours = tracer()
            kept = Thing("a")
            block = bytearray(4096)
        print("chained", ours != theirs, has(tracker.get_surviving_objects(), kept))
        print("tracemalloc saw it", tracemalloc.get_object_traceback(block) is not None)
        print("put back", tracer() == theirs)
        tracemalloc.stop()

        # Taken from us while tracking: destructions may have been missed, so the survivors
        # are refused, and the new owner keeps the slot.
        with memray.Tracker("b.bin", track_object_lifetimes=True) as tracker:
            kept = Thing("b")
            tracemalloc.start()
            theirs = tracer()
            freed = Thing("freed")
            del freed
        try:
            tracker.get_surviving_objects()
        except RuntimeError as e:
            print("refused", "replaced" in str(e))
        print("theirs kept", tracer() == theirs, tracemalloc.is_tracing())
        tracemalloc.stop()

        # And a tracker after all that works as the first one did.
        with memray.Tracker("c.bin", track_object_lifetimes=True) as tracker:
            kept = Thing("c")
        print("again", has(tracker.get_surviving_objects(), kept), tracer() == (None, None))
    """)
    assert run_python(script).stdout.splitlines() == [
        "idle True",
        "chained True True",
        "tracemalloc saw it True",
        "put back True",
        "refused True",
        "theirs kept True True",
        "again True True",
    ]


@needs_tracer
def test_forks_and_a_tracker_left_running_at_exit(tmp_path):
    script = program(tmp_path, TRACER_STATE, """
        with memray.Tracker("out.bin", track_object_lifetimes=True) as tracker:
            kept = Thing("parent")
            pid = os.fork()
            child = Thing("child")
        if pid == 0:
            # A child that does not follow the fork stops recording at once.
            try:
                tracker.get_surviving_objects()
            except RuntimeError:
                print("child: no survivors, tracer", tracer() == (None, None), flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        survivors = tracker.get_surviving_objects()
        print("parent", has(survivors, kept), has(survivors, child), flush=True)

        # Never left: stopped when the interpreter exits, and nothing breaks.
        left = memray.Tracker("left.bin", track_object_lifetimes=True)
        left.__enter__()
        objects = [Thing(i) for i in range(100)]
        print("exiting", flush=True)
    """)
    assert run_python(script).stdout.splitlines() == [
        "child: no survivors, tracer True",
        "parent True True",
        "exiting",
    ]
    assert Capture(tmp_path / "left.bin").metadata.total_allocations > 0
