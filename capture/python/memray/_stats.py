"""``Stats``, what ``memray.compute_statistics`` returns (Memray's fields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from memray._metadata import Metadata

#: (function, file name, line number) of an allocation's innermost frame.
_Location = Tuple[str, str, int]


@dataclass
class Stats:
    metadata: Metadata
    total_num_allocations: int
    total_memory_allocated: int
    peak_memory_allocated: int
    #: allocation count by allocation size in bytes
    allocation_count_by_size: Dict[int, int]
    #: allocation count by allocator name (``"malloc"``, ``"mmap"``, ...)
    allocation_count_by_allocator: Dict[str, int]
    #: ((function, file, line), bytes) of the locations that allocated the most bytes
    top_locations_by_size: List[Tuple[_Location, int]]
    #: ((function, file, line), count) of the locations that allocated most often
    top_locations_by_count: List[Tuple[_Location, int]]
    #: (module, count, bytes) of the modules that allocated the most bytes
    top_modules_by_allocation_size: List[Tuple[str, int, int]] = field(default_factory=list)
    #: (module, count, bytes) of the modules that allocated most often
    top_modules_by_allocation_count: List[Tuple[str, int, int]] = field(default_factory=list)
