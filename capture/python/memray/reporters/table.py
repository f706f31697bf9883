"""``TableReporter``: the table page of ``memray table``, for any records."""

from __future__ import annotations

from typing import List

from memray.reporters import BaseReporter


class TableReporter(BaseReporter):
    """Renders allocation records as a sortable, searchable HTML table (``memray-table``)."""

    program = "memray-table"

    def options(self, show_memory_leaks: bool, merge_threads: bool, inverted: bool) -> List[str]:
        if inverted:
            raise NotImplementedError("TableReporter does not support inverted argument")
        return super().options(show_memory_leaks, merge_threads, inverted)
