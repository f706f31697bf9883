"""Rendering records with the ``memray-*`` programs: the records are written as a capture of
their own (one location per record, see ``memray._memray.write_records_capture``) that the
program reads like any other."""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any, Dict, Iterable, List, Optional, TextIO, Tuple

from memray import _memray
from memray._metadata import Metadata
from memray._reader import MemorySnapshot

#: (thread, allocator, bytes, allocation count, stack innermost first)
_Record = Tuple[int, int, int, int, List[Tuple[str, str, int]]]


class RecordSet:
    """Records made ready for a program: their stacks resolved, their threads numbered."""

    def __init__(self, allocations: Iterable[Any], *, native_traces: bool) -> None:
        self.records: List[_Record] = []
        self.thread_ids: Dict[Any, int] = {}
        self.thread_names: Dict[int, str] = {}
        for record in allocations:
            try:
                if native_traces:
                    stack = record.hybrid_stack_trace()
                else:
                    stack = record.stack_trace()
            except NotImplementedError:
                continue  # a deallocation: no stack, nothing to show
            frames = [(str(f), str(file), max(int(line), 0)) for f, file, line in stack]
            thread = self._thread(record.tid, getattr(record, "thread_name", ""))
            self.records.append(
                (thread, int(record.allocator), int(record.size), int(record.n_allocations),
                 frames)
            )

    def _thread(self, tid: Any, name: str) -> int:
        number = self.thread_ids.get(tid)
        if number is None:
            number = self.thread_ids[tid] = len(self.thread_ids) + 1
            self.thread_names[number] = str(name or "")
        return number

    def write(self, path: str, metadata: Metadata,
              memory_records: Iterable[MemorySnapshot]) -> None:
        main = self._thread(metadata.main_thread_id, "")
        run = {
            "pid": metadata.pid,
            "main_thread_id": main,
            "start_time_ms": int(metadata.start_time.timestamp() * 1000),
            "end_time_ms": int(metadata.end_time.timestamp() * 1000),
            "command_line": metadata.command_line,
            "python_allocator": metadata.python_allocator,
            "trace_python_allocators": metadata.trace_python_allocators,
            "peak_memory": metadata.peak_memory,
            "total_allocations": metadata.total_allocations,
        }
        snapshots = [(int(s.time), int(s.rss), int(s.heap)) for s in memory_records]
        threads = [(number, name) for number, name in self.thread_names.items() if name]
        _memray.write_records_capture(path, run, self.records, threads, snapshots)


def render(program: str, options: List[str], records: RecordSet, metadata: Metadata,
           memory_records: Iterable[MemorySnapshot], outfile: TextIO) -> None:
    """Writes into ``outfile`` what ``program OPTIONS`` makes of ``records``."""
    from memray.__main__ import _find, _program_env

    path: Optional[str] = _find(program)
    if path is None:
        raise NotImplementedError(f"rendering needs the {program} program, which is not installed")
    with tempfile.TemporaryDirectory(prefix="memray-report-") as tmp:
        capture = os.path.join(tmp, "records.bin")
        output = os.path.join(tmp, "report.html")
        records.write(capture, metadata, memory_records)
        proc = subprocess.run(
            [program, *options, "-f", "-o", output, capture], executable=path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_program_env(),
        )
        if proc.returncode != 0 or not os.path.exists(output):
            raise OSError(proc.stderr.strip() or f"{program} exited with status {proc.returncode}")
        with open(output, encoding="utf-8") as f:
            page = f.read()
    outfile.write(page if page.endswith("\n") else page + "\n")
