"""``memray.FileReader``, the records it returns, ``compute_statistics`` and
``dump_all_records``: thin wrappers over the Rust reader and the shared analyses (the same code
the ``memray-*`` programs run). Nothing is computed here."""

import collections
import datetime
import os
import subprocess
import sys

from memray import _memray
from memray._enums import AllocatorType, FileFormat
from memray._metadata import Metadata

# Memray raises for these (and not for PYMALLOC_FREE) when asked for a stack.
_NO_STACKS = (AllocatorType.FREE, AllocatorType.MUNMAP)

MemorySnapshot = collections.namedtuple("MemorySnapshot", "time rss heap")

_log_threshold = 30  # logging.WARNING


def set_log_level(level):
    """Configure which log messages will be printed to stderr by memray.

    Only messages of severity ``level`` or higher are printed (by default ``logging.WARNING``).
    """
    global _log_threshold
    _log_threshold = int(level)


def size_fmt(num, suffix="B"):
    for unit in ["", "k", "M", "G", "T", "P", "E", "Z"]:
        if abs(num) < 1000.0:
            return f"{num:5.3f}{unit}{suffix}"
        num /= 1000.0
    return f"{num:.1f}Y{suffix}"


def _datetime(ms):
    return datetime.datetime.fromtimestamp(ms // 1000).replace(microsecond=ms % 1000 * 1000).astimezone()


def _metadata(m):
    return Metadata(
        start_time=_datetime(m["start_time_ms"]),
        end_time=_datetime(m["end_time_ms"]),
        total_allocations=m["total_allocations"],
        total_frames=m["total_frames"],
        peak_memory=m["peak_memory"],
        command_line=m["command_line"],
        pid=m["pid"],
        main_thread_id=m["main_thread_id"],
        python_allocator=m["python_allocator"],
        has_native_traces=m["has_native_traces"],
        trace_python_allocators=m["trace_python_allocators"],
        file_format=FileFormat(m["file_format"]),
    )


class AllocationRecord:
    """One allocation event, or a group of allocations with the same stack (Memray's record:
    an 8-tuple ``(tid, address, size, allocator, stack_id, n_allocations, native_stack_id,
    native_segment_generation)``, compared and hashed as that tuple)."""

    __slots__ = ("_tuple", "_reader", "_cache", "_name_id")

    def __init__(self, record, reader=None):
        record = tuple(record)
        # Records of every event come with a ninth field: the id of their thread's name at
        # that moment.
        self._tuple = record[:8]
        self._name_id = record[8] if len(record) > 8 else 0
        self._reader = reader
        self._cache = {}

    tid = property(lambda self: self._tuple[0])
    address = property(lambda self: self._tuple[1])
    size = property(lambda self: self._tuple[2])
    allocator = property(lambda self: self._tuple[3])
    stack_id = property(lambda self: self._tuple[4])
    n_allocations = property(lambda self: self._tuple[5])
    native_stack_id = property(lambda self: self._tuple[6])
    native_segment_generation = property(lambda self: self._tuple[7])

    @property
    def thread_name(self):
        if self.tid == -1:
            return "merged thread"
        if self._reader is None:
            return ""
        # Records of every event carry their thread's name as it was at that moment.
        if self._name_id:
            name = self._reader.thread_name_version(self._name_id)
            if name is not None:
                return name
        return self._reader.thread_name(self.tid)

    def _cached(self, kind, max_stacks, compute):
        key = (kind, max_stacks)
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def stack_trace(self, max_stacks=None):
        if self.allocator in _NO_STACKS:
            raise NotImplementedError("Stack traces for deallocations aren't captured.")
        if self._reader is None:
            return []
        return self._cached(
            "python", max_stacks, lambda: self._reader.stack(self.stack_id, self.tid, max_stacks)
        )

    def native_stack_trace(self, max_stacks=None):
        if self.allocator in _NO_STACKS:
            raise NotImplementedError("Stack traces for deallocations aren't captured.")
        native = self.native_stack_id
        if not native or self._reader is None or not hasattr(self._reader, "native_stack"):
            return []
        return self._cached(
            "native", max_stacks, lambda: self._reader.native_stack(native, max_stacks)
        )

    def hybrid_stack_trace(self, max_stacks=None):
        # Without native frames to merge with, Memray's hybrid stack is the whole Python stack
        # (nothing left out on the main thread, `max_stacks` unused).
        if self.allocator in _NO_STACKS:
            raise NotImplementedError("Stack traces for deallocations aren't captured.")
        if self._reader is None:
            return []
        native = self.native_stack_id
        if native and hasattr(self._reader, "hybrid_stack"):
            return self._cached(
                "hybrid",
                max_stacks,
                lambda: self._reader.hybrid_stack(self.stack_id, native, self.tid, max_stacks),
            )
        return self._cached(
            "hybrid", max_stacks, lambda: self._reader.stack(self.stack_id, self.tid, None, False)
        )

    def __eq__(self, other):
        if not isinstance(other, AllocationRecord):
            return NotImplemented
        return self._tuple == other._tuple

    def __hash__(self):
        return hash(self._tuple)

    def __repr__(self):
        size = "N/A" if not self.size else size_fmt(self.size)
        return (
            f"AllocationRecord<tid={hex(self.tid)}, address={hex(self.address)}, "
            f"size={size}, allocator={self.allocator!r}, allocations={self.n_allocations}>"
        )


class Interval:
    """A run of memory snapshots: allocations made before snapshot
    ``allocated_before_snapshot`` and freed before ``deallocated_before_snapshot`` (None:
    never freed), or a location's contribution to the peaks over those snapshots."""

    __slots__ = ("allocated_before_snapshot", "deallocated_before_snapshot", "n_allocations",
                 "n_bytes")

    def __init__(self, allocated_before_snapshot, deallocated_before_snapshot, n_allocations,
                 n_bytes):
        self.allocated_before_snapshot = allocated_before_snapshot
        self.deallocated_before_snapshot = deallocated_before_snapshot
        self.n_allocations = n_allocations
        self.n_bytes = n_bytes

    def _fields(self):
        return (self.allocated_before_snapshot, self.deallocated_before_snapshot,
                self.n_allocations, self.n_bytes)

    def __eq__(self, other):
        if type(other) is not Interval:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None

    def __repr__(self):
        return (
            f"Interval(allocated_before_snapshot={self.allocated_before_snapshot},"
            f" deallocated_before_snapshot={self.deallocated_before_snapshot},"
            f" n_allocations={self.n_allocations},"
            f" n_bytes={self.n_bytes})"
        )


class TemporalAllocationRecord:
    """One location's history: the tuple ``(tid, allocator, stack_id, native_stack_id,
    native_segment_generation)`` and its ``intervals``."""

    __slots__ = ("_tuple", "_reader", "_cache", "intervals")

    def __init__(self, record, reader=None):
        self._tuple = tuple(record)
        self._reader = reader
        self._cache = {}
        self.intervals = []

    tid = property(lambda self: self._tuple[0])
    allocator = property(lambda self: self._tuple[1])
    stack_id = property(lambda self: self._tuple[2])
    native_stack_id = property(lambda self: self._tuple[3])
    native_segment_generation = property(lambda self: self._tuple[4])

    thread_name = AllocationRecord.thread_name
    _cached = AllocationRecord._cached
    stack_trace = AllocationRecord.stack_trace
    native_stack_trace = AllocationRecord.native_stack_trace
    hybrid_stack_trace = AllocationRecord.hybrid_stack_trace

    def __eq__(self, other):
        if type(other) is not TemporalAllocationRecord:
            return NotImplemented
        return self._tuple == other._tuple and self.intervals == other.intervals

    def __hash__(self):
        return hash(self._tuple)

    def __repr__(self):
        return (
            f"TemporalAllocationRecord<tid={hex(self.tid)}, allocator={self.allocator!r}, "
            f"intervals={self.intervals!r}>"
        )


def _open_error(file_name, exc):
    return OSError(f"Could not open file {file_name}: {exc.strerror}")


class FileReader:
    """Reads a capture file written by ``Tracker`` or ``memray run``.

    As Memray's, it holds the file open until ``close()``, so it keeps reading the same capture
    even if the path is removed or replaced meanwhile.
    """

    def __init__(self, file_name, *, report_progress=False, max_memory_records=10000):
        try:
            self._file = open(file_name, "rb")
        except OSError as exc:
            raise _open_error(file_name, exc) from None
        self._path = f"/proc/self/fd/{self._file.fileno()}"
        self._report_progress = report_progress
        self._max_memory_records = max_memory_records
        try:
            self._reader = _memray.CaptureReader(self._path)
        except OSError as exc:
            self.close()
            raise OSError(str(exc).replace(self._path, os.fspath(file_name))) from None
        self._metadata = _metadata(self._reader.metadata())

    @property
    def metadata(self):
        return self._metadata

    @property
    def closed(self):
        return self._file is None

    def _ensure_not_closed(self):
        if self._file is None:
            raise ValueError("Operation on a closed FileReader")

    def _records(self, tuples):
        reader = self._reader
        return (AllocationRecord(t, reader) for t in tuples)

    def get_allocation_records(self):
        self._ensure_not_closed()
        yield from self._records(self._reader.all_records())

    def get_high_watermark_allocation_records(self, merge_threads=True):
        self._ensure_not_closed()
        yield from self._records(self._reader.aggregate("peak", merge_threads))

    def get_leaked_allocation_records(self, merge_threads=True):
        self._ensure_not_closed()
        yield from self._records(self._reader.aggregate("leaks", merge_threads))

    def get_temporary_allocation_records(self, merge_threads=True, threshold=1):
        self._ensure_not_closed()
        yield from self._records(self._reader.temporary(merge_threads, int(threshold)))

    def _temporal(self, records):
        reader = self._reader
        for key, intervals in records:
            record = TemporalAllocationRecord(key, reader)
            record.intervals = [Interval(*i) for i in intervals]
            yield record

    def get_temporal_allocation_records(self, merge_threads=True):
        """Allocations by location, grouped by the memory snapshots they were made and freed
        before (``Interval.deallocated_before_snapshot`` is None for those never freed)."""
        self._ensure_not_closed()
        yield from self._temporal(
            self._reader.temporal_lifetimes(merge_threads, self._max_memory_records)
        )

    def get_temporal_high_water_mark_allocation_records(self, merge_threads=True):
        """``(records, high_water_mark_by_snapshot)``: each location's contribution to the
        heap's peak between consecutive memory snapshots, as intervals of snapshots over which
        it holds, and those peaks (one more than there are snapshots)."""
        self._ensure_not_closed()
        records, peaks = self._reader.temporal_peaks(merge_threads, self._max_memory_records)
        return self._temporal(records), list(peaks)

    def get_memory_snapshots(self):
        for t, rss, heap in self._reader.memory_snapshots(self._max_memory_records):
            yield MemorySnapshot(t, rss, heap)

    def close(self):
        f, self._file = getattr(self, "_file", None), None
        if f is not None:
            f.close()

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, exc_traceback):
        self.close()


def compute_statistics(file_name, *, report_progress=False, num_largest=5):
    """The figures of ``memray stats``, as a ``memray._stats.Stats``."""
    from memray._stats import Stats

    try:
        with open(file_name, "rb") as f:
            d = _memray.CaptureReader.statistics(f"/proc/self/fd/{f.fileno()}", int(num_largest))
    except OSError as exc:
        if exc.strerror:
            raise _open_error(file_name, exc) from None
        raise
    metadata = _metadata(d.pop("metadata"))
    if metadata.file_format == FileFormat.AGGREGATED_ALLOCATIONS:
        raise NotImplementedError("Can't compute statistics using a pre-aggregated capture file.")
    return Stats(metadata=metadata, **d)


def dump_all_records(file_name):
    """Prints every record of the capture, one per line (what ``memray parse`` shows)."""
    path = str(file_name)
    if not os.path.exists(path):
        raise OSError(f"No such file: {path}")
    from memray.__main__ import _find

    program = _find("memray-parse")
    if program is None:
        raise NotImplementedError(
            "dump_all_records needs the memray-parse program, which is not installed"
        )
    sys.stdout.flush()
    proc = subprocess.run([program, path], stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise OSError(proc.stderr.strip() or f"memray-parse exited with status {proc.returncode}")
