"""Reporters: turn allocation records into reports, as Memray's ``memray.reporters`` does.

``FlameGraphReporter`` (``memray.reporters.flamegraph``) and ``TableReporter``
(``memray.reporters.table``) take any records (``FileReader``'s, ``SocketReader``'s, or a
filtered list of them) with ``from_snapshot`` and ``render`` the same self-contained HTML
pages the ``memray flamegraph`` and ``memray table`` commands write: the records are handed to
the ``memray-flamegraph`` and ``memray-table`` programs.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable, List, TextIO, Type, TypeVar

from memray._metadata import Metadata
from memray._reader import AllocationRecord, MemorySnapshot

_R = TypeVar("_R", bound="BaseReporter")


class BaseReporter:
    """What every reporter offers: ``from_snapshot`` takes the records, ``render`` writes the
    report into ``outfile`` with the ``memray-*`` program named by ``program``."""

    program: ClassVar[str] = ""

    def __init__(self, data: Any, *, memory_records: Iterable[MemorySnapshot]) -> None:
        self.data = data
        self.memory_records = list(memory_records)

    @classmethod
    def from_snapshot(
        cls: Type[_R],
        allocations: Iterable[AllocationRecord],
        *,
        memory_records: Iterable[MemorySnapshot],
        native_traces: bool,
        merge_threads: bool = True,
        **kwargs: Any,
    ) -> _R:
        """A reporter for ``allocations``, each shown with its hybrid stack when
        ``native_traces``, else its Python stack."""
        from memray.reporters._programs import RecordSet

        records = RecordSet(allocations, native_traces=native_traces)
        return cls(records, memory_records=memory_records)

    def options(self, show_memory_leaks: bool, merge_threads: bool, inverted: bool) -> List[str]:
        """The program's options for these choices."""
        options = []
        if show_memory_leaks:
            options.append("--leaks")
        if not merge_threads:
            options.append("--split-threads")
        return options

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
        from memray.reporters._programs import render

        options = self.options(show_memory_leaks, merge_threads, inverted)
        render(self.program, options, self.data, metadata, self.memory_records, outfile)


__all__ = ["BaseReporter"]
