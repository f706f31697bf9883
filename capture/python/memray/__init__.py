"""A memory profiler for Python applications (a Rust re-implementation of Memray).

The public API matches Memray 1.20: ``Tracker`` records every allocation of the process into a
capture file; the ``memray`` command-line programs turn captures into reports.
"""

from memray._destinations import Destination, FileDestination, SocketDestination
from memray._enums import AllocatorType, FileFormat, PythonAllocatorType
from memray._reader import AllocationRecord, FileReader, MemorySnapshot, Metadata
from memray._tracker import Tracker

__version__ = "0.1.0"

__all__ = [
    "AllocationRecord",
    "AllocatorType",
    "FileReader",
    "MemorySnapshot",
    "Metadata",
    "Destination",
    "FileDestination",
    "FileFormat",
    "PythonAllocatorType",
    "SocketDestination",
    "Tracker",
]
