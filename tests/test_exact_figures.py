"""Known sizes from known functions and lines must come out exactly: in the peak, the leaks, the
per-location totals (FileReader and memray-stats) and the metadata."""

import pytest

from memray import AllocatorType

from conftest import Capture, assert_ok, marks, memray_run, stats_counts, stats_json, \
    stats_locations, write

PROGRAM = """
import mmap

KEEP = []


def leak_bytearray():
    KEEP.append(bytearray(3_000_000))  # @leak


def temp_bytearray():
    x = bytearray(5_000_000)  # @temp
    del x


def map_pages():
    m = mmap.mmap(-1, 7 * 4096)  # @map
    KEEP.append(m)


def map_and_close():
    m = mmap.mmap(-1, 5 * 4096)  # @map_closed
    m.close()


def peak_phase():
    a = bytearray(2_000_000)  # @peak_a
    b = bytearray(4_000_000)  # @peak_b
    return len(a) + len(b)


def main():
    leak_bytearray()  # @call_leak
    temp_bytearray()
    map_pages()
    map_and_close()
    peak_phase()  # @call_peak


main()  # @call_main
"""

LEAK, TEMP, PEAK_A, PEAK_B = 3_000_001, 5_000_001, 2_000_001, 4_000_001
MAP, MAP_CLOSED = 7 * 4096, 5 * 4096
KNOWN_PEAK = LEAK + MAP + PEAK_A + PEAK_B


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    d = tmp_path_factory.mktemp("exact")
    script = write(d / "prog.py", PROGRAM)
    proc = assert_ok(memray_run(["-q", "-o", "out.bin", "prog.py"], cwd=d))
    return Capture(d / "out.bin"), marks(script), d, proc


def test_bytearray_is_one_malloc_of_n_plus_one(result):
    cap, m, _, _ = result
    hits = cap.at(cap.allocs, "leak_bytearray", m["leak"], "prog.py")
    assert [(r.size, r.allocator) for r in hits] == [(LEAK, AllocatorType.MALLOC)]
    hits = cap.at(cap.allocs, "temp_bytearray", m["temp"], "prog.py")
    assert [(r.size, r.allocator) for r in hits] == [(TEMP, AllocatorType.MALLOC)]


def test_mmap_module_maps_exactly_n_bytes(result):
    cap, m, _, _ = result
    hits = cap.at(cap.allocs, "map_pages", m["map"], "prog.py")
    assert [(r.size, r.allocator) for r in hits] == [(MAP, AllocatorType.MMAP)]
    closed = cap.at(cap.allocs, "map_and_close", m["map_closed"], "prog.py")
    assert [(r.size, r.allocator) for r in closed] == [(MAP_CLOSED, AllocatorType.MMAP)]
    unmaps = [r for r in cap.frees if r.allocator == AllocatorType.MUNMAP
              and r.address == closed[0].address]
    assert [r.size for r in unmaps] == [MAP_CLOSED]


def test_temporary_bytearray_is_freed(result):
    cap, m, _, _ = result
    (alloc,) = cap.at(cap.allocs, "temp_bytearray", m["temp"])
    frees = [r for r in cap.frees if r.allocator == AllocatorType.FREE and r.address == alloc.address]
    assert len(frees) >= 1
    # The free comes after the allocation in the capture order.
    assert cap.records.index(frees[0]) > cap.records.index(alloc)


def test_full_stack_of_an_allocation(result):
    cap, m, _, _ = result
    (rec,) = cap.at(cap.allocs, "leak_bytearray", m["leak"])
    stack = cap.stack(rec)
    assert stack[:3] == [
        ("leak_bytearray", "prog.py", m["leak"]),
        ("main", "prog.py", m["call_leak"]),
        ("<module>", "prog.py", m["call_main"]),
    ]
    # Below the program: memray's own runner (runpy's frames in Memray 1.20), whose frames
    # above the Tracker's caller are hidden on the main thread (Memray's rule).
    assert stack[-1][0] == "_run_tracker"
    assert stack[-1][1].endswith("memray/commands/run.py")
    for func, file, _ in stack[3:]:
        assert file == "<frozen runpy>" or file.endswith("memray/commands/run.py"), stack
    assert rec.tid == cap.metadata.main_thread_id


def test_high_water_mark(result):
    cap, m, _, _ = result
    assert cap.group_at(cap.peak, "leak_bytearray", m["leak"]) == (LEAK, 1)
    assert cap.group_at(cap.peak, "map_pages", m["map"]) == (MAP, 1)
    assert cap.group_at(cap.peak, "peak_phase", m["peak_a"]) == (PEAK_A, 1)
    assert cap.group_at(cap.peak, "peak_phase", m["peak_b"]) == (PEAK_B, 1)
    assert cap.at(cap.peak, "temp_bytearray") == []
    assert cap.at(cap.peak, "map_and_close") == []
    (rec,) = cap.at(cap.peak, "peak_phase", m["peak_b"])
    assert cap.stack(rec)[:2] == [("peak_phase", "prog.py", m["peak_b"]),
                                  ("main", "prog.py", m["call_peak"])]
    # Nothing else of ours is live at the peak, and the background is small.
    assert KNOWN_PEAK <= cap.metadata.peak_memory < KNOWN_PEAK + 2 * 1024 * 1024
    assert sum(r.size for r in cap.peak) == cap.metadata.peak_memory


def test_leaks(result):
    cap, m, _, _ = result
    assert cap.group_at(cap.leaks, "leak_bytearray", m["leak"]) == (LEAK, 1)
    assert cap.group_at(cap.leaks, "map_pages", m["map"]) == (MAP, 1)
    for func in ("temp_bytearray", "map_and_close", "peak_phase"):
        assert cap.at(cap.leaks, func) == [], func


def test_per_location_totals_from_all_records(result):
    cap, m, _, _ = result
    totals = cap.totals_by_location()
    assert totals[("leak_bytearray", "prog.py", m["leak"])] == [LEAK, 1]
    assert totals[("temp_bytearray", "prog.py", m["temp"])] == [TEMP, 1]
    assert totals[("map_pages", "prog.py", m["map"])] == [MAP, 1]
    assert totals[("map_and_close", "prog.py", m["map_closed"])] == [MAP_CLOSED, 1]
    assert totals[("peak_phase", "prog.py", m["peak_a"])] == [PEAK_A, 1]
    assert totals[("peak_phase", "prog.py", m["peak_b"])] == [PEAK_B, 1]
    # Lines that only call other functions allocate nothing themselves.
    assert ("main", "prog.py", m["call_leak"]) not in totals
    # Without --trace-python-allocators nothing is recorded as PYMALLOC_*.
    assert not [r for r in cap.records if r.allocator <= AllocatorType.PYMALLOC_REALLOC]


def test_memray_stats_json(result):
    cap, m, d, _ = result
    doc, proc = stats_json(d / "out.bin")
    locs = stats_locations(doc)
    assert locs[f"leak_bytearray:prog.py:{m['leak']}"] == LEAK
    assert locs[f"temp_bytearray:prog.py:{m['temp']}"] == TEMP
    assert locs[f"map_pages:prog.py:{m['map']}"] == MAP
    assert locs[f"map_and_close:prog.py:{m['map_closed']}"] == MAP_CLOSED
    assert locs[f"peak_phase:prog.py:{m['peak_a']}"] == PEAK_A
    assert locs[f"peak_phase:prog.py:{m['peak_b']}"] == PEAK_B
    # The largest location is the 5 MB temporary one.
    assert doc["top_allocations_by_size"][0] == {
        "location": f"temp_bytearray:prog.py:{m['temp']}", "size": TEMP}
    assert stats_counts(doc)[f"temp_bytearray:prog.py:{m['temp']}"] == 1
    meta = doc["metadata"]
    assert meta["peak_memory"] == cap.metadata.peak_memory
    assert meta["pid"] == cap.metadata.pid
    assert doc["total_num_allocations"] == len(cap.allocs)
    assert doc["total_bytes_allocated"] == sum(r.size for r in cap.allocs)
    assert doc["allocator_type_distribution"]["MMAP"] >= 2
    assert "cut short" not in proc.stderr


def test_single_threaded_program_allocates_with_stacks(result):
    cap, _, _, _ = result
    main = cap.metadata.main_thread_id
    assert [r for r in cap.allocs if r.tid == main and not cap.stack(r)] == []


def test_metadata_of_memray_run(result):
    cap, _, _, _ = result
    meta = cap.metadata
    # " ".join(memray's own argv): the memray program as invoked, then its arguments
    argv0, rest = meta.command_line.split(" ", 1)
    assert argv0.endswith("memray") and rest == "run -q -o out.bin prog.py"
    assert meta.has_native_traces is False
    assert meta.trace_python_allocators is False
    assert meta.python_allocator == "pymalloc"
    assert int(meta.file_format) == 0
    assert meta.start_time <= meta.end_time
    assert meta.total_allocations == len(cap.records)
    assert meta.main_thread_id >= 1
