"""Memray's enumerations, with Memray's names and values."""

import enum


class AllocatorType(enum.IntEnum):
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
    ALL_ALLOCATIONS = 0
    AGGREGATED_ALLOCATIONS = 1


class PythonAllocatorType(enum.IntEnum):
    PYMALLOC = 1
    PYMALLOC_DEBUG = 2
    MALLOC = 3
    OTHER = 4
    MIMALLOC = 5
    MIMALLOC_DEBUG = 6
