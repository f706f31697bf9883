"""``FlameGraphReporter``: the flame graph page of ``memray flamegraph``, for any records."""

from __future__ import annotations

from typing import Any, Iterable, Optional, TextIO

from memray._metadata import Metadata
from memray._reader import AllocationRecord, MemorySnapshot
from memray.reporters._programs import RecordSet, render


class FlameGraphReporter:
    """Renders allocation records as an interactive HTML flame graph (``memray-flamegraph``).

    Build one with ``from_snapshot`` (the records of a ``FileReader`` or ``SocketReader``, or
    any subset of them) and write the page with ``render``.
    """

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
        inverted: Optional[bool] = None,
        confidential_files: str = "default",
        **kwargs: Any,
    ) -> FlameGraphReporter:
        """A reporter for ``allocations``, each shown with its hybrid stack when
        ``native_traces``, else its Python stack."""
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
        """Writes the page into ``outfile`` (it loads nothing from the network whatever
        ``no_web`` says)."""
        options = []
        if show_memory_leaks:
            options.append("--leaks")
        if not merge_threads:
            options.append("--split-threads")
        if inverted:
            options.append("--inverted")
        render("memray-flamegraph", options, self.data, metadata, self.memory_records, outfile)


__all__ = ["FlameGraphReporter"]
