"""``TableReporter``: the table page of ``memray table``, for any records."""

from __future__ import annotations

from typing import Any, Iterable, TextIO

from memray._metadata import Metadata
from memray._reader import AllocationRecord, MemorySnapshot
from memray.reporters._programs import RecordSet, render


class TableReporter:
    """Renders allocation records as a sortable, searchable HTML table (``memray-table``)."""

    def __init__(self, data: RecordSet, *, memory_records: Iterable[MemorySnapshot]) -> None:
        self.data = data
        self.memory_records = list(memory_records)

    @classmethod
    def from_snapshot(
        cls,
        allocations: Iterable[AllocationRecord],
        *,
        memory_records: Iterable[MemorySnapshot],
        native_traces: bool,
        merge_threads: bool = True,
        **kwargs: Any,
    ) -> TableReporter:
        """A reporter for ``allocations`` (their hybrid stacks when ``native_traces``)."""
        records = RecordSet(allocations, native_traces=native_traces)
        return cls(records, memory_records=memory_records)

    def render(
        self,
        outfile: TextIO,
        metadata: Metadata,
        show_memory_leaks: bool,
        merge_threads: bool,
        inverted: bool,
        no_web: bool = False,
    ) -> None:
        """Writes the page into ``outfile``."""
        if inverted:
            raise NotImplementedError("TableReporter does not support inverted argument")
        options = []
        if show_memory_leaks:
            options.append("--leaks")
        if not merge_threads:
            options.append("--split-threads")
        render("memray-table", options, self.data, metadata, self.memory_records, outfile)


__all__ = ["TableReporter"]
