# The extension module `memray._memray` (capture/src): the tracker and the capture reader.
#
# Memray's names in this module (size_fmt, FileReader, Tracker, AllocatorType, ...) are this
# package's Python classes and functions; the module's `__getattr__` imports them on first use.

from typing import Any, Dict, List, Optional, Tuple

from memray._destination import Destination as Destination
from memray._destination import FileDestination as FileDestination
from memray._destination import SocketDestination as SocketDestination
from memray._enums import AllocatorType as AllocatorType
from memray._enums import FileFormat as FileFormat
from memray._enums import PythonAllocatorType as PythonAllocatorType
from memray._metadata import Metadata as Metadata
from memray._reader import AllocationRecord as AllocationRecord
from memray._reader import FileReader as FileReader
from memray._reader import Interval as Interval
from memray._reader import MemorySnapshot as MemorySnapshot
from memray._reader import NativeStackElement as NativeStackElement
from memray._reader import PythonStackElement as PythonStackElement
from memray._reader import TemporalAllocationRecord as TemporalAllocationRecord
from memray._reader import compute_statistics as compute_statistics
from memray._reader import dump_all_records as dump_all_records
from memray._reader import set_log_level as set_log_level
from memray._reader import size_fmt as size_fmt
from memray._socket_reader import SocketReader as SocketReader
from memray._stats import Stats as Stats
from memray._test import PymallocDomain as PymallocDomain
from memray._tracker import Tracker as Tracker
from memray._tracker import start_thread_trace as start_thread_trace

# (tid, address, size, allocator, stack id, n_allocations, native stack id, native segment
# generation)
_RecordTuple = Tuple[int, int, int, int, int, int, int, int]
# A _RecordTuple and the id of its thread's name at that moment.
_EventTuple = Tuple[int, int, int, int, int, int, int, int, int]
# (tid, allocator, stack id, native stack id, native segment generation)
_TemporalKey = Tuple[int, int, int, int, int]
# (allocated before snapshot, deallocated before snapshot, n_allocations, n_bytes)
_IntervalTuple = Tuple[int, Optional[int], int, int]
_Frame = Tuple[str, str, int]

# The tracker.

def start_tracking(
    path: str,
    *,
    overwrite: bool,
    compress: bool,
    trace_python_allocators: bool,
    native_traces: bool,
    follow_fork: bool,
    memory_interval_ms: int,
    command_line: str,
    python_version: str,
    paths: Tuple[str, List[str], List[str]],
    skipped_frames: int,
    socket: Optional[Tuple[str, int]] = None,
    aggregate: bool = False,
    socket_timeout: Optional[float] = None,
    parent_pid: int = 0,
    sampling: Optional[Tuple[int, Optional[int]]] = None,
) -> int: ...
def stop_tracking() -> None: ...
def is_tracking() -> bool: ...
def register_thread_name(ident: int, name: str) -> None: ...
def thread_id() -> int: ...
def follow_fork_in_child() -> Optional[str]: ...
def python_fork_begins() -> None: ...
def python_fork_ends() -> None: ...
def combined_peak(paths: List[str]) -> Tuple[int, List[int]]: ...
def python_depth() -> int: ...

# Object lifetimes (CPython 3.13.3 and later).

def object_lifetimes_unavailable() -> Optional[str]: ...
def start_object_lifetimes() -> None: ...
def stop_object_lifetimes() -> None: ...
def surviving_objects() -> List[object]: ...

# Captures made of records (memray.reporters).

def write_records_capture(
    path: str,
    run: Dict[str, Any],
    records: List[Tuple[int, int, int, int, List[_Frame]]],
    threads: List[Tuple[int, str]],
    snapshots: List[Tuple[int, int, int]],
) -> None: ...

# Readers.

class CaptureReader:
    def __init__(self, path: str) -> None: ...
    def metadata(self) -> Dict[str, Any]: ...
    def aggregate(self, view: str, merge_threads: bool) -> List[_RecordTuple]: ...
    def temporary(self, merge_threads: bool, threshold: int) -> List[_RecordTuple]: ...
    def all_records(self) -> List[_EventTuple]: ...
    def stack(
        self, stack: int, tid: int, max_stacks: Optional[int] = None, skip_main: bool = True
    ) -> List[_Frame]: ...
    def native_stack(self, native: int, max_stacks: Optional[int] = None) -> List[_Frame]: ...
    def hybrid_stack(
        self, stack: int, native: int, tid: int, max_stacks: Optional[int] = None
    ) -> List[_Frame]: ...
    def thread_name_version(self, id: int) -> Optional[str]: ...
    def thread_name(self, tid: int) -> str: ...
    def memory_snapshots(self, max_records: int = 0) -> List[Tuple[int, int, int]]: ...
    def temporal_peaks(
        self, merge_threads: bool, max_records: int
    ) -> Tuple[List[Tuple[_TemporalKey, List[_IntervalTuple]]], List[int]]: ...
    def temporal_lifetimes(
        self, merge_threads: bool, max_records: int
    ) -> List[Tuple[_TemporalKey, List[_IntervalTuple]]]: ...
    @staticmethod
    def statistics(path: str, num_largest: int) -> Dict[str, Any]: ...

class LiveReader:
    def __init__(self, port: int) -> None: ...
    def header(self) -> Dict[str, Any]: ...
    def is_active(self) -> bool: ...
    def snapshot(self, merge_threads: bool) -> List[_RecordTuple]: ...
    def stack(
        self, stack: int, tid: int, max_stacks: Optional[int] = None, skip_main: bool = True
    ) -> List[_Frame]: ...
    def thread_name(self, tid: int) -> str: ...
    def close(self) -> None: ...
