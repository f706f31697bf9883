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
    "Destination": "memray._destinations",
    "FileDestination": "memray._destinations",
    "SocketDestination": "memray._destinations",
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

__all__ = sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'memray' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
