"""``memray.FileReader``, the records it returns, ``compute_statistics`` and
``dump_all_records``: thin wrappers over the Rust reader and the shared analyses (the same code
the ``memray-*`` programs run). Nothing is computed here."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from typing import (
    TYPE_CHECKING,
    Any,
    BinaryIO,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from memray import _memray
from memray._enums import AllocatorType, FileFormat
from memray._metadata import Metadata

if TYPE_CHECKING:
    from types import TracebackType

    from memray._stats import Stats

    _T = TypeVar("_T")

#: One Python frame: (function, file name, line number).
PythonStackElement = Tuple[str, str, int]
#: One native frame: (symbol, file name, line number).
NativeStackElement = Tuple[str, str, int]

# Memray raises for these (and not for PYMALLOC_FREE) when asked for a stack.
_NO_STACKS = (AllocatorType.FREE, AllocatorType.MUNMAP)


class MemorySnapshot(NamedTuple):
    """The resident set size and the heap size at one moment (milliseconds since the epoch)."""

    time: int
    rss: int
    heap: int


_log_threshold = 30  # logging.WARNING


def set_log_level(level: int) -> None:
    """Configure which log messages will be printed to stderr by memray.

    Only messages of severity ``level`` or higher are printed (by default ``logging.WARNING``).
    """
    global _log_threshold
    _log_threshold = int(level)


def size_fmt(num: float, suffix: str = "B") -> str:
    """``num`` bytes as Memray shows sizes: ``1.500MB``, ``512.000B``."""
    for unit in ["", "k", "M", "G", "T", "P", "E", "Z"]:
        if abs(num) < 1000.0:
            return f"{num:5.3f}{unit}{suffix}"
        num /= 1000.0
    return f"{num:.1f}Y{suffix}"


def _datetime(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms // 1000).replace(microsecond=ms % 1000 * 1000).astimezone()


def _metadata(m: Dict[str, Any]) -> Metadata:
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
        sample_every=m.get("sample_every", 0),
    )


class _StackRecord:
    """What records of allocations have in common: a thread, an allocator, and stacks that
    the reader that made them resolves (and that are cached once resolved)."""

    __slots__ = ("_reader", "_cache", "_name_id")

    _reader: Any
    _cache: Dict[Tuple[str, Optional[int]], List[PythonStackElement]]
    _name_id: int

    @property
    def tid(self) -> int:
        raise NotImplementedError

    @property
    def allocator(self) -> int:
        raise NotImplementedError

    @property
    def stack_id(self) -> int:
        raise NotImplementedError

    @property
    def native_stack_id(self) -> int:
        raise NotImplementedError

    @property
    def thread_name(self) -> str:
        if self.tid == -1:
            return "merged thread"
        if self._reader is None:
            return ""
        # Records of every event carry their thread's name as it was at that moment.
        if self._name_id:
            name: Optional[str] = self._reader.thread_name_version(self._name_id)
            if name is not None:
                return name
        return str(self._reader.thread_name(self.tid))

    def _cached(
        self,
        kind: str,
        max_stacks: Optional[int],
        compute: Callable[[], List[PythonStackElement]],
    ) -> List[PythonStackElement]:
        key = (kind, max_stacks)
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def stack_trace(self, max_stacks: Optional[int] = None) -> List[PythonStackElement]:
        """The Python stack of the allocation, innermost frame first (at most ``max_stacks``
        frames)."""
        if self.allocator in _NO_STACKS:
            raise NotImplementedError("Stack traces for deallocations aren't captured.")
        reader = self._reader
        if reader is None:
            return []
        return self._cached(
            "python", max_stacks, lambda: reader.stack(self.stack_id, self.tid, max_stacks)
        )

    def native_stack_trace(self, max_stacks: Optional[int] = None) -> List[NativeStackElement]:
        """The native stack of the allocation (captures made with native traces only)."""
        if self.allocator in _NO_STACKS:
            raise NotImplementedError("Stack traces for deallocations aren't captured.")
        native = self.native_stack_id
        reader = self._reader
        if not native or reader is None or not hasattr(reader, "native_stack"):
            return []
        return self._cached("native", max_stacks, lambda: reader.native_stack(native, max_stacks))

    def hybrid_stack_trace(
        self, max_stacks: Optional[int] = None
    ) -> List[Union[PythonStackElement, NativeStackElement]]:
        """The native stack with the interpreter's frames replaced by the Python frames they
        ran; without native frames, the whole Python stack."""
        # Without native frames to merge with, Memray's hybrid stack is the whole Python stack
        # (nothing left out on the main thread, `max_stacks` unused).
        if self.allocator in _NO_STACKS:
            raise NotImplementedError("Stack traces for deallocations aren't captured.")
        reader = self._reader
        if reader is None:
            return []
        native = self.native_stack_id
        if native and hasattr(reader, "hybrid_stack"):
            return self._cached(
                "hybrid",
                max_stacks,
                lambda: reader.hybrid_stack(self.stack_id, native, self.tid, max_stacks),
            )
        return self._cached(
            "hybrid", max_stacks, lambda: reader.stack(self.stack_id, self.tid, None, False)
        )


class AllocationRecord(_StackRecord):
    """One allocation event, or a group of allocations with the same stack (Memray's record:
    an 8-tuple ``(tid, address, size, allocator, stack_id, n_allocations, native_stack_id,
    native_segment_generation)``, compared and hashed as that tuple)."""

    __slots__ = ("_tuple",)

    _tuple: Tuple[int, int, int, int, int, int, int, int]

    def __init__(self, record: Iterable[int], reader: Any = None) -> None:
        fields = tuple(record)
        # Records of every event come with a ninth field: the id of their thread's name at
        # that moment.
        self._tuple = fields[:8]  # type: ignore[assignment]
        self._name_id = fields[8] if len(fields) > 8 else 0
        self._reader = reader
        self._cache = {}

    @property
    def tid(self) -> int:
        return self._tuple[0]

    @property
    def address(self) -> int:
        return self._tuple[1]

    @property
    def size(self) -> int:
        return self._tuple[2]

    @property
    def allocator(self) -> int:
        return self._tuple[3]

    @property
    def stack_id(self) -> int:
        return self._tuple[4]

    @property
    def n_allocations(self) -> int:
        return self._tuple[5]

    @property
    def native_stack_id(self) -> int:
        return self._tuple[6]

    @property
    def native_segment_generation(self) -> int:
        return self._tuple[7]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AllocationRecord):
            return NotImplemented
        return self._tuple == other._tuple

    def __hash__(self) -> int:
        return hash(self._tuple)

    def __repr__(self) -> str:
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

    allocated_before_snapshot: int
    deallocated_before_snapshot: Optional[int]
    n_allocations: int
    n_bytes: int

    def __init__(
        self,
        allocated_before_snapshot: int,
        deallocated_before_snapshot: Optional[int],
        n_allocations: int,
        n_bytes: int,
    ) -> None:
        self.allocated_before_snapshot = allocated_before_snapshot
        self.deallocated_before_snapshot = deallocated_before_snapshot
        self.n_allocations = n_allocations
        self.n_bytes = n_bytes

    def _fields(self) -> Tuple[int, Optional[int], int, int]:
        return (self.allocated_before_snapshot, self.deallocated_before_snapshot,
                self.n_allocations, self.n_bytes)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Interval:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Interval(allocated_before_snapshot={self.allocated_before_snapshot},"
            f" deallocated_before_snapshot={self.deallocated_before_snapshot},"
            f" n_allocations={self.n_allocations},"
            f" n_bytes={self.n_bytes})"
        )


class TemporalAllocationRecord(_StackRecord):
    """One location's history: the tuple ``(tid, allocator, stack_id, native_stack_id,
    native_segment_generation)`` and its ``intervals``."""

    __slots__ = ("_tuple", "intervals")

    _tuple: Tuple[int, int, int, int, int]
    intervals: List[Interval]

    def __init__(self, record: Iterable[int], reader: Any = None) -> None:
        self._tuple = tuple(record)  # type: ignore[assignment]
        self._name_id = 0
        self._reader = reader
        self._cache = {}
        self.intervals = []

    @property
    def tid(self) -> int:
        return self._tuple[0]

    @property
    def allocator(self) -> int:
        return self._tuple[1]

    @property
    def stack_id(self) -> int:
        return self._tuple[2]

    @property
    def native_stack_id(self) -> int:
        return self._tuple[3]

    @property
    def native_segment_generation(self) -> int:
        return self._tuple[4]

    def __eq__(self, other: object) -> bool:
        if type(other) is not TemporalAllocationRecord:
            return NotImplemented
        return self._tuple == other._tuple and self.intervals == other.intervals

    def __hash__(self) -> int:
        return hash(self._tuple)

    def __repr__(self) -> str:
        return (
            f"TemporalAllocationRecord<tid={hex(self.tid)}, allocator={self.allocator!r}, "
            f"intervals={self.intervals!r}>"
        )


def _open_error(file_name: Union[str, os.PathLike[str]], exc: OSError) -> OSError:
    return OSError(f"Could not open file {file_name}: {exc.strerror}")


class FileReader:
    """Reads a capture file written by ``Tracker`` or ``memray run``.

    As Memray's, it holds the file open until ``close()``, so it keeps reading the same capture
    even if the path is removed or replaced meanwhile.
    """

    def __init__(
        self,
        file_name: Union[str, os.PathLike[str]],
        *,
        report_progress: bool = False,
        max_memory_records: int = 10000,
    ) -> None:
        try:
            file = open(file_name, "rb")
        except OSError as exc:
            raise _open_error(file_name, exc) from None
        self._file: Optional[BinaryIO] = file
        self._path = f"/proc/self/fd/{file.fileno()}"
        self._report_progress = report_progress
        self._max_memory_records = max_memory_records
        try:
            self._reader = _memray.CaptureReader(self._path)
        except OSError as exc:
            self.close()
            raise OSError(str(exc).replace(self._path, os.fspath(file_name))) from None
        self._metadata = _metadata(self._reader.metadata())

    @property
    def metadata(self) -> Metadata:
        """What the capture says about the run that made it."""
        return self._metadata

    @property
    def closed(self) -> bool:
        return self._file is None

    def _ensure_not_closed(self) -> None:
        if self._file is None:
            raise ValueError("Operation on a closed FileReader")

    def _records(self, tuples: Iterable[Iterable[int]]) -> Iterator[AllocationRecord]:
        reader = self._reader
        return (AllocationRecord(t, reader) for t in tuples)

    def get_allocation_records(self) -> Iterator[AllocationRecord]:
        """Every allocation and deallocation, in order."""
        self._ensure_not_closed()
        yield from self._records(self._reader.all_records())

    def get_high_watermark_allocation_records(
        self, merge_threads: bool = True
    ) -> Iterator[AllocationRecord]:
        """The allocations live at the peak, grouped by stack (and thread)."""
        self._ensure_not_closed()
        yield from self._records(self._reader.aggregate("peak", merge_threads))

    def get_leaked_allocation_records(
        self, merge_threads: bool = True
    ) -> Iterator[AllocationRecord]:
        """The allocations still live when tracking stopped, grouped by stack (and thread)."""
        self._ensure_not_closed()
        yield from self._records(self._reader.aggregate("leaks", merge_threads))

    def get_temporary_allocation_records(
        self, merge_threads: bool = True, threshold: int = 1
    ) -> Iterator[AllocationRecord]:
        """The allocations freed within ``threshold`` other allocations of their thread,
        grouped by stack (and thread)."""
        self._ensure_not_closed()
        yield from self._records(self._reader.temporary(merge_threads, int(threshold)))

    def _temporal(self, records: Iterable[Any]) -> Iterator[TemporalAllocationRecord]:
        reader = self._reader
        for key, intervals in records:
            record = TemporalAllocationRecord(key, reader)
            record.intervals = [Interval(*i) for i in intervals]
            yield record

    def get_temporal_allocation_records(
        self, merge_threads: bool = True
    ) -> Iterator[TemporalAllocationRecord]:
        """Allocations by location, grouped by the memory snapshots they were made and freed
        before (``Interval.deallocated_before_snapshot`` is None for those never freed)."""
        self._ensure_not_closed()
        yield from self._temporal(
            self._reader.temporal_lifetimes(merge_threads, self._max_memory_records)
        )

    def get_temporal_high_water_mark_allocation_records(
        self, merge_threads: bool = True
    ) -> Tuple[Iterator[TemporalAllocationRecord], List[int]]:
        """``(records, high_water_mark_by_snapshot)``: each location's contribution to the
        heap's peak between consecutive memory snapshots, as intervals of snapshots over which
        it holds, and those peaks (one more than there are snapshots)."""
        self._ensure_not_closed()
        records, peaks = self._reader.temporal_peaks(merge_threads, self._max_memory_records)
        return self._temporal(records), list(peaks)

    def get_memory_snapshots(self) -> Iterator[MemorySnapshot]:
        """The resident set and heap sizes over time."""
        for t, rss, heap in self._reader.memory_snapshots(self._max_memory_records):
            yield MemorySnapshot(t, rss, heap)

    def close(self) -> None:
        f, self._file = getattr(self, "_file", None), None
        if f is not None:
            f.close()

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> FileReader:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_value: Optional[BaseException],
        exc_traceback: Optional[TracebackType],
    ) -> None:
        self.close()


def compute_statistics(
    file_name: Union[str, os.PathLike[str]], *, report_progress: bool = False, num_largest: int = 5
) -> Stats:
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


def dump_all_records(file_name: Union[str, os.PathLike[str]]) -> None:
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
