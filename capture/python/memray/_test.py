"""Helpers for tests of memory profiling: allocate known sizes with known allocators.

The allocations happen in the native module ``memray._test_utils`` (a separate shared object,
so its calls to ``malloc`` & co. go through the dynamic linker like any extension's and the
tracker records them). As in Memray, ``MemoryAllocator`` is a Python wrapper: the innermost
Python frame of its allocations is the method called (``valloc``, ``malloc``, ...) in this file.
"""

import enum
import sys
from typing import Any, Callable

from memray._test_utils import MemoryAllocator as _MemoryAllocator
from memray._test_utils import MmapAllocator
from memray._test_utils import PymallocMemoryAllocator
from memray._test_utils import _cython_allocate_in_two_places
from memray._test_utils import _cython_nested_allocation
from memray._test_utils import allocate_cpp_vector
from memray._test_utils import allocate_without_gil_held
from memray._test_utils import exit
from memray._test_utils import fill_cpp_vector
from memray._test_utils import function_caller
from memray._test_utils import set_thread_name


class PymallocDomain(enum.IntEnum):
    PYMALLOC_RAW = 1
    PYMALLOC_MEM = 2
    PYMALLOC_OBJECT = 3


class MemoryAllocator:
    def __init__(self) -> None:
        self.allocator = _MemoryAllocator()

    def free(self) -> None:
        return self.allocator.free()

    def free_sized(self, size: int) -> bool:
        return self.allocator.free_sized(size)

    def free_aligned_sized(self, size: int) -> bool:
        return self.allocator.free_aligned_sized(size)

    def malloc(self, size: int) -> bool:
        return self.allocator.malloc(size)

    def calloc(self, size: int) -> bool:
        return self.allocator.calloc(size)

    def realloc(self, size: int) -> bool:
        return self.allocator.realloc(size)

    def posix_memalign(self, size: int) -> bool:
        return self.allocator.posix_memalign(size)

    def aligned_alloc(self, size: int) -> bool:
        return self.allocator.aligned_alloc(size)

    def memalign(self, size: int) -> bool:
        return self.allocator.memalign(size)

    def valloc(self, size: int) -> bool:
        return self.allocator.valloc(size)

    def pvalloc(self, size: int) -> bool:
        return self.allocator.pvalloc(size)

    def run_in_pthread(self, callback: Callable[[], None]) -> None:
        return self.allocator.run_in_pthread(callback)


class PrimeCaches:
    """Runs the ``with`` block under a no-op profile function (warms interpreter caches)."""

    def __init__(self, *args: object) -> None:
        self.old_profile: Any = None

    def __enter__(self) -> "PrimeCaches":
        self.old_profile = sys.getprofile()
        sys.setprofile(lambda *args: None)
        return self

    def __exit__(self, *args: object) -> None:
        sys.setprofile(self.old_profile)


def rss_from_proc_status(proc_status: str) -> int:
    """The ``VmRSS`` of a ``/proc/<pid>/status`` text, in bytes."""
    for line in proc_status.splitlines():
        if line.startswith("VmRSS:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    raise ValueError("Failed to parse VmRSS from proc status")


__all__ = [
    "allocate_cpp_vector",
    "MemoryAllocator",
    "MmapAllocator",
    "PymallocDomain",
    "PymallocMemoryAllocator",
    "rss_from_proc_status",
    "_cython_allocate_in_two_places",
    "_cython_nested_allocation",
    "allocate_without_gil_held",
    "function_caller",
    "set_thread_name",
    "fill_cpp_vector",
    "exit",
    "PrimeCaches",
]
