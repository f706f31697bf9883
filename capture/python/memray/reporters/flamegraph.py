"""``FlameGraphReporter``: the flame graph page of ``memray flamegraph``, for any records."""

from __future__ import annotations

from typing import List

from memray.reporters import BaseReporter


class FlameGraphReporter(BaseReporter):
    """Renders allocation records as an interactive HTML flame graph (``memray-flamegraph``).

    Build one with ``from_snapshot`` (the records of a ``FileReader`` or ``SocketReader``, or
    any subset of them) and write the page with ``render``.
    """

    program = "memray-flamegraph"

    def options(self, show_memory_leaks: bool, merge_threads: bool, inverted: bool) -> List[str]:
        options = super().options(show_memory_leaks, merge_threads, inverted)
        if inverted:
            options.append("--inverted")
        return options
