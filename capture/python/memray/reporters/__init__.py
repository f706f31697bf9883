"""Reporters: turn allocation records into reports, as Memray's ``memray.reporters`` does.

``FlameGraphReporter`` (``memray.reporters.flamegraph``) and ``TableReporter``
(``memray.reporters.table``) take any records (``FileReader``'s, ``SocketReader``'s, or a
filtered list of them) with ``from_snapshot`` and ``render`` the same self-contained HTML
pages the ``memray flamegraph`` and ``memray table`` commands write: the records are handed to
the ``memray-flamegraph`` and ``memray-table`` programs.
"""

from __future__ import annotations

from typing import Protocol, TextIO

from memray._metadata import Metadata


class BaseReporter(Protocol):
    """What every reporter offers: ``render`` the report into ``outfile``."""

    def render(
        self,
        outfile: TextIO,
        metadata: Metadata,
        show_memory_leaks: bool,
        merge_threads: bool,
        inverted: bool,
        no_web: bool = False,
    ) -> None: ...


__all__ = ["BaseReporter"]
