"""``memray._test``: every helper under a Tracker, with exact sizes, allocators and stacks.

The helpers live in their own extension module (``memray._test_utils``), so their calls to
``malloc`` & co. go through the dynamic linker like any extension's and the tracker sees them.
"""

import os

import pytest

from memray import AllocatorType as A

from conftest import Capture, marks, run_python, write

TEST_PY = os.path.join("memray", "_test.py")


def at_line(cap, records, line):
    """Records whose stack's first frame below memray/_test.py (if any) is prog.py:line."""
    out = []
    for r in records:
        stack = cap.stack(r)
        frames = [f for f in stack if not f[1].endswith(TEST_PY)]
        if frames and os.path.basename(frames[0][1]) == "prog.py" and frames[0][2] == line:
            out.append(r)
    return out


def test_memory_allocator_every_function(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        from memray._test import MemoryAllocator

        a = MemoryAllocator()
        with memray.Tracker(sys.argv[1]):
            print(a.malloc(10_001))  # @malloc
            a.free()  # @free_malloc
            print(a.calloc(10_002))  # @calloc
            a.free()
            print(a.realloc(10_003))  # @realloc
            a.free()
            print(a.posix_memalign(10_004))  # @posix_memalign
            a.free()
            print(a.aligned_alloc(10_005))  # @aligned_alloc
            a.free()
            print(a.memalign(10_006))  # @memalign
            a.free()
            print(a.valloc(10_007))  # @valloc
            a.free()
            print(a.pvalloc(10_008))  # @pvalloc
            a.free()
            try:
                a.free()
            except RuntimeError as e:
                print("RuntimeError:", e)
    """)
    m = marks(script)
    proc = run_python(script, "out.bin")
    assert proc.stdout == "True\n" * 8 + "RuntimeError: Pointer cannot be NULL\n"
    cap = Capture(tmp_path / "out.bin")
    expected = {
        "malloc": (A.MALLOC, 10_001),
        "calloc": (A.CALLOC, 10_002),
        "posix_memalign": (A.POSIX_MEMALIGN, 10_004),
        "aligned_alloc": (A.ALIGNED_ALLOC, 10_005),
        "memalign": (A.MEMALIGN, 10_006),
        "valloc": (A.VALLOC, 10_007),
        "pvalloc": (A.PVALLOC, 10_008),
    }
    for name, (allocator, size) in expected.items():
        (rec,) = at_line(cap, cap.allocs, m[name])
        assert (rec.allocator, rec.size, rec.n_allocations) == (allocator, size, 1), name
        # As in Memray, the innermost frame is the wrapper method in memray/_test.py.
        function, filename, _ = cap.stack(rec)[0]
        assert function == name and filename.endswith(TEST_PY)
        assert cap.short_stack(rec)[1:] == [("<module>", "prog.py", m[name])]
        frees = [f for f in cap.frees if f.address == rec.address and f.allocator == A.FREE]
        assert frees, name
    # realloc: malloc(1), then realloc of that block (free + realloc, as Memray records it).
    small, big = at_line(cap, cap.allocs, m["realloc"])
    assert (small.allocator, small.size) == (A.MALLOC, 1)
    assert (big.allocator, big.size) == (A.REALLOC, 10_003)
    i_small = cap.records.index(small)
    i_big = cap.records.index(big)
    between = cap.records[i_small + 1:i_big]
    assert [(r.allocator, r.address) for r in between if r.allocator == A.FREE][-1] == (
        A.FREE, small.address)
    # Nothing else was allocated by those calls.
    assert len(at_line(cap, cap.allocs, m["malloc"])) == 1
    assert at_line(cap, cap.allocs, m["free_malloc"]) == []


def test_free_sized_reports_whether_the_c_library_has_it(tmp_path):
    script = write(tmp_path / "prog.py", """
        import ctypes
        from memray._test import MemoryAllocator

        libc = ctypes.CDLL(None)
        for name, size in (("free_sized", 100), ("free_aligned_sized", 200)):
            a = MemoryAllocator()
            a.malloc(size)
            done = getattr(a, name)(size)
            print(name, done == hasattr(libc, name))
            if not done:
                a.free()  # the block is still held
    """)
    assert run_python(script).stdout == "free_sized True\nfree_aligned_sized True\n"


def test_mmap_allocator(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        from memray._test import MmapAllocator

        with memray.Tracker(sys.argv[1]):
            m = MmapAllocator(10 * 4096)  # @mmap
            m.munmap(4096, 4096)  # @unmap_middle
            m.munmap(4096)  # @unmap_first
            print(hex(m.address))
            try:
                m.munmap(4096, 1)
            except MemoryError as e:
                print("MemoryError:", e)
    """)
    m = marks(script)
    proc = run_python(script, "out.bin")
    address_line, error_line = proc.stdout.splitlines()
    assert error_line == "MemoryError: munmap rcode: -1 errno: 22"
    address = int(address_line, 16)
    cap = Capture(tmp_path / "out.bin")
    (mapping,) = at_line(cap, cap.allocs, m["mmap"])
    assert (mapping.allocator, mapping.address, mapping.size) == (A.MMAP, address, 40960)
    unmaps = [(r.address, r.size) for r in cap.frees if r.allocator == A.MUNMAP
              and address <= r.address < address + 40960]
    assert unmaps[:2] == [(address + 4096, 4096), (address, 4096)]
    # Eight pages are left, in one piece after the first two pages were unmapped.
    (leak,) = [r for r in cap.leaks if r.allocator == A.MMAP and r.stack_id == mapping.stack_id]
    assert (leak.size, leak.n_allocations) == (8 * 4096, 1)


def test_pymalloc_allocator_every_domain(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        from memray._test import PymallocDomain, PymallocMemoryAllocator

        allocators = [PymallocMemoryAllocator(d) for d in PymallocDomain]
        print([int(d) for d in PymallocDomain], [d.name for d in PymallocDomain])
        with memray.Tracker(sys.argv[1], trace_python_allocators=True):
            for i, p in enumerate(allocators):
                p.malloc(301 + i)  # @malloc
                p.realloc(401 + i)  # @realloc
                p.free()  # @free
                p.calloc(501 + i)  # @calloc
                p.free()
        try:
            PymallocMemoryAllocator(7)
        except ValueError as e:
            print("ValueError:", e)
    """)
    m = marks(script)
    proc = run_python(script, "out.bin")
    assert proc.stdout == (
        "[1, 2, 3] ['PYMALLOC_RAW', 'PYMALLOC_MEM', 'PYMALLOC_OBJECT']\n"
        "ValueError: 7 is not a valid PymallocDomain\n"
    )
    cap = Capture(tmp_path / "out.bin")
    for line, allocator, base in (
        (m["malloc"], A.PYMALLOC_MALLOC, 301),
        (m["realloc"], A.PYMALLOC_REALLOC, 401),
        (m["calloc"], A.PYMALLOC_CALLOC, 501),
    ):
        # (Python's own objects made on those lines are recorded too: look at the sizes.)
        got = sorted((r.size, r.allocator) for r in at_line(cap, cap.allocs, line)
                     if 300 < r.size < 600)
        assert got == [(base + i, allocator) for i in range(3)]
    # Each realloc released the block malloc returned, and each free the realloc'ed one.
    mallocs = at_line(cap, cap.allocs, m["malloc"])
    reallocs = at_line(cap, cap.allocs, m["realloc"])
    freed = {r.address for r in cap.frees if r.allocator == A.PYMALLOC_FREE}
    assert {r.address for r in mallocs + reallocs} <= freed


def test_threads_native_callers_and_names(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import threading
        import memray
        from memray._test import MemoryAllocator, function_caller, set_thread_name

        a = MemoryAllocator()

        def in_pthread():
            a.valloc(7_777)  # @pthread
            a.free()

        def named():
            print(set_thread_name("worker-x"))
            a.valloc(8_888)  # @named
            a.free()

        def called():
            a.valloc(9_999)  # @called
            a.free()

        with memray.Tracker(sys.argv[1]):
            a.run_in_pthread(in_pthread)
            t = threading.Thread(target=named)
            t.start()
            t.join()
            function_caller(called)  # @caller
    """)
    m = marks(script)
    assert run_python(script, "out.bin").stdout == "0\n"
    cap = Capture(tmp_path / "out.bin")
    main = cap.metadata.main_thread_id
    (p,) = cap.sized(cap.allocs, 7_777, A.VALLOC)
    assert p.tid != main
    assert cap.short_stack(p)[1:] == [("in_pthread", "prog.py", m["pthread"])]
    (n,) = cap.sized(cap.allocs, 8_888, A.VALLOC)
    assert n.tid not in (main, p.tid)
    assert cap.thread_name(n) == "worker-x"
    assert cap.short_stack(n)[1] == ("named", "prog.py", m["named"])
    (c,) = cap.sized(cap.allocs, 9_999, A.VALLOC)
    # function_caller is native: no frame of its own between the two Python frames.
    assert cap.short_stack(c)[1:] == [
        ("called", "prog.py", m["called"]), ("<module>", "prog.py", m["caller"])]


def test_allocate_without_gil_held(tmp_path):
    """Memray's scenario: a thread started before tracking allocates with the GIL released,
    then again with it held; both allocations carry the thread's Python stack."""
    script = write(tmp_path / "prog.py", """
        import os
        import sys
        import threading
        import memray
        from memray._test import allocate_without_gil_held

        wake_main_r, wake_main_w = os.pipe()
        wake_thread_r, wake_thread_w = os.pipe()

        def thread_body():
            allocate_without_gil_held(wake_main_w, wake_thread_r)  # @call

        t = threading.Thread(target=thread_body)
        t.start()
        os.read(wake_main_r, 1)
        with memray.Tracker(sys.argv[1]):
            os.write(wake_thread_w, b"x")
            t.join()
    """)
    m = marks(script)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    vallocs = [r for r in cap.allocs if r.allocator == A.VALLOC]
    assert [r.size for r in vallocs] == [1234, 4321]
    for r in vallocs:
        assert [f[0] for f in cap.stack(r)] == [
            "thread_body", "run", "_bootstrap_inner", "_bootstrap"]
        assert cap.leaf(r) == ("thread_body", "prog.py", m["call"])
    assert len([f for f in cap.frees if f.address in {r.address for r in vallocs}]) == 2


def test_native_allocation_sites_and_vectors(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        from memray import _test

        a = _test.MemoryAllocator()
        with memray.Tracker(sys.argv[1]):
            _test._cython_nested_allocation(a.valloc, 1_357)  # @nested
            a.free()
            _test._cython_allocate_in_two_places(2_468)  # @two
            print(_test.allocate_cpp_vector(4_000))  # @vector
            print(_test.fill_cpp_vector(400))
    """)
    m = marks(script)
    assert run_python(script, "out.bin").stdout == "0\n100\n"
    cap = Capture(tmp_path / "out.bin")
    nested = at_line(cap, cap.allocs, m["nested"])
    assert sorted((r.allocator, r.size) for r in nested) == [(A.VALLOC, 1_357)] * 2
    two = at_line(cap, cap.allocs, m["two"])
    assert [(r.allocator, r.size) for r in two] == [(A.VALLOC, 2_468)] * 2
    (vec,) = at_line(cap, cap.allocs, m["vector"])
    assert (vec.allocator, vec.size) == (A.MALLOC, 4_000)


def test_exit_leaves_a_complete_capture(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        from memray._test import MemoryAllocator, exit

        a = MemoryAllocator()
        tracker = memray.Tracker(sys.argv[1])
        tracker.__enter__()
        a.malloc(54_321)
        print("exiting", flush=True)
        exit()
        print("not reached")
    """)
    proc = run_python(script, "out.bin")
    assert proc.stdout == "exiting\n"
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.leaks, 54_321, A.MALLOC)) == 1


def test_prime_caches_and_rss_parsing():
    from memray._test import PrimeCaches, rss_from_proc_status
    import sys

    before = sys.getprofile()
    with PrimeCaches(1):
        assert sys.getprofile() is not None
    assert sys.getprofile() is before
    assert rss_from_proc_status("Name:\tx\nVmRSS:\t  1234 kB\n") == 1234 * 1024
    with pytest.raises(ValueError, match="Failed to parse VmRSS"):
        rss_from_proc_status("Name:\tx\n")
