"""Memray's enumerations, with Memray's names and values."""

import enum


class AllocatorType(enum.IntEnum):
    """The function that made (or undid) an allocation."""

    PYMALLOC_FREE = 1
    PYMALLOC_MALLOC = 2
    PYMALLOC_CALLOC = 3
    PYMALLOC_REALLOC = 4
    FREE = 5
    MALLOC = 6
    REALLOC = 7
    CALLOC = 8
    POSIX_MEMALIGN = 9
    ALIGNED_ALLOC = 10
    MEMALIGN = 11
    VALLOC = 12
    PVALLOC = 13
    MMAP = 14
    MUNMAP = 15


class FileFormat(enum.IntEnum):
    """What a capture file holds: every event, or totals per location."""

    ALL_ALLOCATIONS = 0
    AGGREGATED_ALLOCATIONS = 1


class PythonAllocatorType(enum.IntEnum):
    """The allocator the interpreter uses for Python objects (Memray's names and values)."""

    PYTHON_ALLOCATOR_PYMALLOC = 1
    PYTHON_ALLOCATOR_PYMALLOC_DEBUG = 2
    PYTHON_ALLOCATOR_MALLOC = 3
    PYTHON_ALLOCATOR_OTHER = 4
    PYTHON_ALLOCATOR_MIMALLOC = 5
    PYTHON_ALLOCATOR_MIMALLOC_DEBUG = 6
