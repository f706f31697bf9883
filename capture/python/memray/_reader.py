"""``memray.FileReader`` and the records it returns, over the Rust reader and analyses."""

import datetime
import os
from dataclasses import dataclass

from memray import _memray
from memray._enums import AllocatorType, FileFormat

_DEALLOCATORS = {AllocatorType.FREE, AllocatorType.MUNMAP, AllocatorType.PYMALLOC_FREE}


def size_fmt(num, suffix="B"):
    for unit in ["", "k", "M", "G", "T", "P", "E", "Z"]:
        if abs(num) < 1000.0:
            return f"{num:5.3f}{unit}{suffix}"
        num /= 1000.0
    return f"{num:.1f}Y{suffix}"


def _datetime(ms):
    return datetime.datetime.fromtimestamp(ms // 1000).replace(microsecond=ms % 1000 * 1000).astimezone()


@dataclass
class Metadata:
    start_time: datetime.datetime
    end_time: datetime.datetime
    total_allocations: int
    total_frames: int
    peak_memory: int
    command_line: str
    pid: int
    main_thread_id: int
    python_allocator: str
    has_native_traces: bool
    trace_python_allocators: bool
    file_format: FileFormat


@dataclass(frozen=True)
class MemorySnapshot:
    time: int
    rss: int
    heap: int


class AllocationRecord:
    """One allocation event, or a group of allocations with the same stack."""

    __slots__ = ("_tuple", "_reader")

    def __init__(self, record, reader=None):
        self._tuple = tuple(record)
        self._reader = reader

    tid = property(lambda self: self._tuple[0])
    address = property(lambda self: self._tuple[1])
    size = property(lambda self: self._tuple[2])
    allocator = property(lambda self: self._tuple[3])
    stack_id = property(lambda self: self._tuple[4])
    n_allocations = property(lambda self: self._tuple[5])
    native_stack_id = property(lambda self: self._tuple[6])

    @property
    def thread_name(self):
        if self.tid == -1:
            return "merged thread"
        return self._reader.thread_name(self.tid) if self._reader else ""

    def stack_trace(self, max_stacks=None):
        if self.allocator in _DEALLOCATORS:
            raise NotImplementedError("Stack traces for deallocations aren't captured.")
        if self._reader is None:
            return []
        return self._reader.stack(self.stack_id, self.tid, max_stacks)

    def native_stack_trace(self, max_stacks=None):
        if self.allocator in _DEALLOCATORS:
            raise NotImplementedError("Stack traces for deallocations aren't captured.")
        return []

    def hybrid_stack_trace(self, max_stacks=None):
        return self.stack_trace(max_stacks)

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


class FileReader:
    """Reads a capture file written by ``Tracker`` or ``memray run``."""

    def __init__(self, file_name, *, report_progress=False, max_memory_records=10000):
        self._path = os.fspath(file_name)
        self._reader = _memray.CaptureReader(self._path)
        m = self._reader.metadata()
        self._metadata = Metadata(
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
        self.closed = False

    @property
    def metadata(self):
        return self._metadata

    def _records(self, tuples):
        return [AllocationRecord(t, self._reader) for t in tuples]

    def get_allocation_records(self):
        yield from self._records(self._reader.all_records())

    def get_high_watermark_allocation_records(self, merge_threads=True):
        yield from self._records(self._reader.aggregate("peak", merge_threads))

    def get_leaked_allocation_records(self, merge_threads=True):
        yield from self._records(self._reader.aggregate("leaks", merge_threads))

    def get_memory_snapshots(self):
        for t, rss, heap in self._reader.memory_snapshots():
            yield MemorySnapshot(t, rss, heap)

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
