"""``memray.FileReader`` and friends (Memray 1.20's API) on real captures, with exact values:
records and their identity, temporary allocations, the temporal views, ``compute_statistics``,
``dump_all_records``, errors."""

import datetime
import os
import pickle
import subprocess
import sys

import pytest

import memray
from memray import AllocatorType as A

from conftest import Capture, marks, program, run_python, stats_json, write


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """One program with known allocations on two threads, temporaries and leaks."""
    d = tmp_path_factory.mktemp("reader")
    script = write(d / "prog.py", """
        import sys
        import threading
        import time
        import memray
        from memray._test import MemoryAllocator

        def worker():
            w = MemoryAllocator()
            w.valloc(70_000)  # @worker_leak

        keep = MemoryAllocator()
        with memray.Tracker(sys.argv[1], memory_interval_ms=5):
            keep.valloc(100_000)  # @kept
            time.sleep(0.05)
            t = MemoryAllocator()
            t.valloc(11_111)  # @temp0
            t.free()
            t.valloc(22_222)  # @temp1
            u = MemoryAllocator()
            u.valloc(333)  # @between
            t.free()
            u.free()
            peak = MemoryAllocator()
            peak.valloc(500_000)  # @peak
            time.sleep(0.05)
            peak.free()
            th = threading.Thread(target=worker)
            th.start()
            th.join()
            time.sleep(0.05)
    """)
    run_python(script, "out.bin")
    return d / "out.bin", marks(script)


def leaf_line(record):
    for function, filename, line in record.stack_trace():
        if filename.endswith("prog.py"):
            return line
    return None


def test_metadata_and_snapshots(capture):
    path, _ = capture
    with memray.FileReader(path) as reader:
        meta = reader.metadata
        snaps = list(reader.get_memory_snapshots())
        records = list(reader.get_allocation_records())
    assert isinstance(meta, memray.Metadata)
    assert type(meta).__module__ == "memray._metadata"
    assert isinstance(meta.start_time, datetime.datetime) and meta.start_time.tzinfo
    assert meta.start_time <= meta.end_time
    assert meta.total_allocations == len(records)
    assert meta.file_format == memray.FileFormat.ALL_ALLOCATIONS
    assert meta.main_thread_id == 1 and meta.pid > 0
    assert pickle.loads(pickle.dumps(meta)) == meta
    assert len(snaps) > 5
    assert isinstance(snaps[0], memray.MemorySnapshot) and isinstance(snaps[0], tuple)
    assert snaps[0]._fields == ("time", "rss", "heap")
    assert all(a.time <= b.time for a, b in zip(snaps, snaps[1:]))
    assert max(s.heap for s in snaps) <= meta.peak_memory


def test_records_identity_and_repr(capture):
    path, m = capture
    with memray.FileReader(path) as reader:
        first = list(reader.get_allocation_records())
        second = list(reader.get_allocation_records())
    assert first == second
    assert len(set(first) | set(second)) == len(set(first))
    (kept,) = [r for r in first if r.size == 100_000 and r.allocator == A.VALLOC]
    assert kept._tuple == (kept.tid, kept.address, 100_000, A.VALLOC, kept.stack_id, 1,
                           kept.native_stack_id, kept.native_segment_generation)
    assert repr(kept) == (f"AllocationRecord<tid=0x1, address={hex(kept.address)}, "
                          f"size=100.000kB, allocator=12, allocations=1>")
    assert type(kept.allocator) is int
    free = next(r for r in first if r.allocator == A.FREE)
    assert repr(free).endswith(", size=N/A, allocator=5, allocations=1>")
    with pytest.raises(NotImplementedError, match="Stack traces for deallocations"):
        free.stack_trace()
    with pytest.raises(NotImplementedError):
        free.hybrid_stack_trace()
    assert kept != object() and kept != free
    # stack_trace hides the main thread's frames above the Tracker; max_stacks and the hybrid
    # stack (without native frames) keep everything.
    assert kept.stack_trace()[1][0] == "<module>"
    assert kept.stack_trace(max_stacks=1) == kept.stack_trace()[:1]
    assert kept.hybrid_stack_trace()[:2] == kept.stack_trace()
    assert kept.native_stack_trace() == []
    assert kept.thread_name == kept.thread_name  # known names only


def test_peak_leaks_and_threads(capture):
    path, m = capture
    with memray.FileReader(path) as reader:
        peak = list(reader.get_high_watermark_allocation_records())
        leaks = list(reader.get_leaked_allocation_records())
        split = list(reader.get_leaked_allocation_records(merge_threads=False))
        main = reader.metadata.main_thread_id
        peak_lines = {leaf_line(r): r for r in peak if r.allocator == A.VALLOC}
        leak_lines = {leaf_line(r): r for r in leaks if r.allocator == A.VALLOC}
        worker = [r for r in split if leaf_line(r) == m["worker_leak"]]
        worker_name = worker[0].thread_name
    assert peak_lines[m["peak"]].size == 500_000
    assert peak_lines[m["kept"]].size == 100_000
    assert m["worker_leak"] not in peak_lines
    assert {k: (v.size, v.n_allocations) for k, v in leak_lines.items()} == {
        m["kept"]: (100_000, 1), m["worker_leak"]: (70_000, 1)}
    (w,) = worker
    assert w.tid != main and worker_name.startswith("Thread-")


def test_temporary_allocations(capture):
    path, m = capture
    with memray.FileReader(path) as reader:
        def temporary(**kw):
            recs = reader.get_temporary_allocation_records(**kw)
            return {leaf_line(r): (r.size, r.n_allocations) for r in recs
                    if r.allocator == A.VALLOC}
        # threshold 0: only what is freed before any other allocation of its thread (frees
        # in between do not count).
        zero = {m["temp0"]: (11_111, 1), m["between"]: (333, 1), m["peak"]: (500_000, 1)}
        assert temporary(threshold=0) == zero
        # threshold 1 (the default): one allocation in between is allowed.
        assert temporary() == {**zero, m["temp1"]: (22_222, 1)}
        assert temporary(merge_threads=False) == temporary()


def test_temporal_allocation_records(capture):
    path, m = capture
    with memray.FileReader(path) as reader:
        n = len(list(reader.get_memory_snapshots()))
        recs = {leaf_line(r): r for r in reader.get_temporal_allocation_records()
                if r.allocator == A.VALLOC}
        split = list(reader.get_temporal_allocation_records(merge_threads=False))
    (kept,) = recs[m["kept"]].intervals
    (peak,) = recs[m["peak"]].intervals
    (worker,) = recs[m["worker_leak"]].intervals
    assert (kept.n_allocations, kept.n_bytes, kept.deallocated_before_snapshot) == (
        1, 100_000, None)
    assert (peak.n_allocations, peak.n_bytes) == (1, 500_000)
    # kept, then (after a sleep) the peak block, freed after another sleep, then the worker's.
    assert kept.allocated_before_snapshot < peak.allocated_before_snapshot
    assert peak.allocated_before_snapshot < peak.deallocated_before_snapshot <= n
    assert peak.deallocated_before_snapshot <= worker.allocated_before_snapshot
    assert recs[m["kept"]].tid == 0  # merged threads
    assert {r.tid for r in split} >= {1, 2}
    assert repr(kept) == (f"Interval(allocated_before_snapshot={kept.allocated_before_snapshot},"
                          " deallocated_before_snapshot=None, n_allocations=1, n_bytes=100000)")


def test_temporal_high_water_mark_records(capture):
    path, m = capture
    with memray.FileReader(path) as reader:
        n = len(list(reader.get_memory_snapshots()))
        records, peaks = reader.get_temporal_high_water_mark_allocation_records()
        recs = {leaf_line(r): r for r in records if r.allocator == A.VALLOC}
        peak_memory = reader.metadata.peak_memory
    assert len(peaks) == n + 1
    assert max(peaks) == peak_memory
    intervals = recs[m["peak"]].intervals
    assert (intervals[0].n_allocations, intervals[0].n_bytes) == (1, 500_000)
    assert (intervals[-1].n_bytes, intervals[-1].deallocated_before_snapshot) == (0, None)
    top = peaks.index(peak_memory)
    assert intervals[0].allocated_before_snapshot <= top < intervals[0].deallocated_before_snapshot


def test_max_memory_records_thins_every_view_alike(capture):
    path, m = capture
    with memray.FileReader(path, max_memory_records=4) as reader:
        snaps = list(reader.get_memory_snapshots())
        records, peaks = reader.get_temporal_high_water_mark_allocation_records()
        lifetimes = list(reader.get_temporal_allocation_records())
        peak_memory = reader.metadata.peak_memory
    assert 1 <= len(snaps) <= 4
    assert len(peaks) == len(snaps) + 1 and max(peaks) == peak_memory
    for r in list(records) + lifetimes:
        for i in r.intervals:
            assert 0 <= i.allocated_before_snapshot <= len(snaps)
            assert i.deallocated_before_snapshot is None or (
                i.allocated_before_snapshot <= i.deallocated_before_snapshot <= len(snaps))


def test_compute_statistics_matches_memray_stats(capture):
    path, _ = capture
    stats = memray.compute_statistics(path, num_largest=3)
    doc, _ = stats_json(path)
    assert type(stats).__module__ == "memray._stats"
    assert stats.total_num_allocations == doc["total_num_allocations"]
    assert stats.total_memory_allocated == doc["total_bytes_allocated"]
    assert stats.peak_memory_allocated == doc["metadata"]["peak_memory"]
    assert stats.metadata.peak_memory == stats.peak_memory_allocated
    assert stats.allocation_count_by_allocator == doc["allocator_type_distribution"]
    assert sum(stats.allocation_count_by_size.values()) == stats.total_num_allocations
    assert stats.allocation_count_by_size[500_000] == 1
    def location(f, file, line):  # as Memray's stats report writes them
        return "<stack trace unavailable>" if f == "<unknown>" else f"{f}:{file}:{line}"

    top = [(location(*loc), size) for loc, size in stats.top_locations_by_size]
    assert top == [(e["location"], e["size"]) for e in doc["top_allocations_by_size"][:3]]
    assert stats.top_locations_by_size[0][0][0] == "valloc"
    assert len(stats.top_locations_by_count) == 3
    assert stats.top_modules_by_allocation_size == [
        (e["module"], e["num_allocations"], e["total_bytes"])
        for e in doc["top_modules_by_allocation_size"][:3]]


def test_closed_reader_and_bad_files(tmp_path, capture):
    path, _ = capture
    reader = memray.FileReader(path)
    assert not reader.closed
    reader.close()
    reader.close()
    assert reader.closed
    for method in ("get_allocation_records", "get_high_watermark_allocation_records",
                   "get_leaked_allocation_records", "get_temporary_allocation_records",
                   "get_temporal_allocation_records"):
        with pytest.raises(ValueError, match="Operation on a closed FileReader"):
            next(getattr(reader, method)())
    with pytest.raises(ValueError, match="closed"):
        reader.get_temporal_high_water_mark_allocation_records()
    with pytest.raises(OSError, match="Could not open file nope.bin: No such file or directory"):
        memray.FileReader("nope.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a capture at all")
    with pytest.raises(OSError):
        memray.FileReader(bad)
    with pytest.raises(OSError):
        memray.compute_statistics(bad)


def test_reader_keeps_reading_a_replaced_file(tmp_path, capture):
    path, _ = capture
    copy = tmp_path / "copy.bin"
    copy.write_bytes(path.read_bytes())
    reader = memray.FileReader(copy)
    copy.unlink()
    assert len(list(reader.get_allocation_records())) == reader.metadata.total_allocations
    reader.close()


def test_dump_all_records(tmp_path, capture):
    path, _ = capture
    with pytest.raises(OSError, match="No such file: nope.bin"):
        memray.dump_all_records("nope.bin")
    script = write(tmp_path / "dump.py", f"""
        import memray
        try:
            memray.dump_all_records({str(path)!r})
        except NotImplementedError as e:
            print("NotImplementedError:", e)
    """)
    out = run_python(script).stdout
    parse = os.path.join(os.path.dirname(sys.executable), "memray-parse")
    if os.access(parse, os.X_OK):
        direct = subprocess.run([parse, str(path)], capture_output=True, text=True).stdout
        assert out == direct and out.startswith("HEADER ") and len(out.splitlines()) > 20
    else:
        assert out == ("NotImplementedError: dump_all_records needs the memray-parse program, "
                       "which is not installed\n")


def test_set_log_level_and_exports():
    import logging

    memray.set_log_level(logging.DEBUG)
    memray.set_log_level(logging.WARNING)
    for name in ("AllocationRecord", "AllocatorType", "FileFormat", "FileReader",
                 "MemorySnapshot", "Metadata", "Tracker", "FileDestination", "SocketDestination",
                 "dump_all_records", "set_log_level", "load_ipython_extension", "__version__"):
        assert hasattr(memray, name), name


def test_a_crafted_footer_offset_is_one_clear_error(tmp_path, capture):
    """The tail's footer offset set to 2^64 - 6 (#19): once a panic in every reader, now the
    usual one-line error, from FileReader and from the programs alike."""
    path, _ = capture
    data = bytearray(open(path, "rb").read())
    assert data[-8:] == b"MRYEND01"
    data[-16:-8] = (2**64 - 6).to_bytes(8, "little")
    crafted = tmp_path / "crafted.bin"
    crafted.write_bytes(bytes(data))
    with pytest.raises(OSError, match="corrupt at byte"):
        memray.FileReader(crafted)
    for name in ("memray-stats", "memray-summary", "memray-flamegraph"):
        proc = subprocess.run([program(name), str(crafted)], capture_output=True, text=True,
                              cwd=tmp_path)
        assert proc.returncode == 1, (name, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "footer offset" in proc.stderr and "panicked" not in proc.stderr
