"""``memray.Metadata``: what a capture says about the run that made it (Memray's fields)."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import datetime

if typing.TYPE_CHECKING:
    from memray._enums import FileFormat


@dataclass
class Metadata:
    start_time: datetime
    end_time: datetime
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
    # Ours, beyond Memray's fields: a sampled capture's rate (`--sample-every`, bytes), 0 when
    # every allocation was recorded. Sizes read from a sampled capture are estimates.
    sample_every: int = 0
