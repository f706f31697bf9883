"""A memory profiler for Python applications (a Rust re-implementation of Memray).

The public API matches Memray 1.20: ``Tracker`` records every allocation of the process into a
capture file; ``FileReader`` reads one back; the ``memray`` command-line programs turn captures
into reports. Names are imported on first use, so ``memray run`` starts the program quickly.
"""

import sys as _sys

__version__ = "0.1.0"

# The CPython versions the tracker knows how to read (one seam module per version family).
_SUPPORTED_PYTHONS = ((3, 9), (3, 13))

if not (_SUPPORTED_PYTHONS[0] <= _sys.version_info[:2] <= _SUPPORTED_PYTHONS[1]) or (
    _sys.implementation.name != "cpython"
):
    raise ImportError(
        "memray supports CPython {}.{} to {}.{}; this is {} {}.{}".format(
            *_SUPPORTED_PYTHONS[0],
            *_SUPPORTED_PYTHONS[1],
            _sys.implementation.name,
            *_sys.version_info[:2],
        )
    )

_LAZY = {
    "Tracker": "memray._tracker",
    "start_thread_trace": "memray._tracker",
    "Destination": "memray._destination",
    "FileDestination": "memray._destination",
    "SocketDestination": "memray._destination",
    "AllocatorType": "memray._enums",
    "FileFormat": "memray._enums",
    "PythonAllocatorType": "memray._enums",
    "AllocationRecord": "memray._reader",
    "FileReader": "memray._reader",
    "MemorySnapshot": "memray._reader",
    "SocketReader": "memray._socket_reader",
    "Metadata": "memray._metadata",
    "compute_statistics": "memray._reader",
    "dump_all_records": "memray._reader",
    "set_log_level": "memray._reader",
    "size_fmt": "memray._reader",
    "load_ipython_extension": "memray._ipython",
}

# For type checkers (a name mypy reads as always true, without importing typing here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from memray._destination import Destination as Destination
    from memray._destination import FileDestination as FileDestination
    from memray._destination import SocketDestination as SocketDestination
    from memray._enums import AllocatorType as AllocatorType
    from memray._enums import FileFormat as FileFormat
    from memray._enums import PythonAllocatorType as PythonAllocatorType
    from memray._ipython import load_ipython_extension as load_ipython_extension
    from memray._metadata import Metadata as Metadata
    from memray._reader import AllocationRecord as AllocationRecord
    from memray._reader import FileReader as FileReader
    from memray._reader import MemorySnapshot as MemorySnapshot
    from memray._reader import compute_statistics as compute_statistics
    from memray._reader import dump_all_records as dump_all_records
    from memray._reader import set_log_level as set_log_level
    from memray._reader import size_fmt as size_fmt
    from memray._socket_reader import SocketReader as SocketReader
    from memray._tracker import Tracker as Tracker
    from memray._tracker import start_thread_trace as start_thread_trace

__all__ = ["__version__", *sorted(_LAZY)]


if not TYPE_CHECKING:  # type checkers see the imports above instead

    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'memray' has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(_LAZY))
