"""The package's type information (PEP 561: ``py.typed``, ``_memray.pyi``): ``mypy --strict``
accepts a program written against Memray's public API and the package itself, and catches a
program that misuses the API (so the types are real, not ``Any``)."""

import subprocess
import sys
from pathlib import Path

import pytest

import memray

from conftest import write

pytest.importorskip("mypy", reason="mypy is not installed (make venv installs it)")

PACKAGE = Path(memray.__file__).parent

USER_PROGRAM = """
    import os
    import sys
    from datetime import datetime
    from pathlib import Path
    from typing import Iterator, List, Optional, Tuple

    import memray
    import memray.commands
    from memray import (
        AllocationRecord,
        AllocatorType,
        Destination,
        FileDestination,
        FileFormat,
        FileReader,
        MemorySnapshot,
        Metadata,
        SocketDestination,
        SocketReader,
        Tracker,
    )
    from memray._destination import FileDestination as FileDestinationToo
    from memray._errors import MemrayCommandError, MemrayError
    from memray._memray import PythonAllocatorType, compute_statistics, set_log_level, size_fmt
    from memray._stats import Stats
    from memray.reporters import BaseReporter
    from memray.reporters.flamegraph import FlameGraphReporter
    from memray.reporters.table import TableReporter


    def capture(path: Path) -> Tuple[object, ...]:
        destination: Destination = FileDestination(path, overwrite=True, compress_on_exit=False)
        with Tracker(destination=destination, native_traces=False) as tracker:
            data = [bytearray(100) for _ in range(10)]
        with Tracker(str(path) + ".2", file_format=FileFormat.AGGREGATED_ALLOCATIONS):
            pass
        del data
        if sys.version_info >= (3, 13, 3):
            with Tracker(str(path) + ".3", track_object_lifetimes=True) as tracker:
                pass
            return tracker.get_surviving_objects()
        return ()


    def biggest(path: Path) -> Optional[Tuple[str, str, int]]:
        with FileReader(path, max_memory_records=100) as reader:
            metadata: Metadata = reader.metadata
            started: datetime = metadata.start_time
            peak: int = metadata.peak_memory
            fmt: FileFormat = metadata.file_format
            records: List[AllocationRecord] = list(
                reader.get_high_watermark_allocation_records(merge_threads=True)
            )
            for record in records:
                size: int = record.size
                kind = AllocatorType(record.allocator)
                name: str = record.thread_name
                frames = record.stack_trace(max_stacks=5)
                if frames and kind is not AllocatorType.FREE:
                    function, filename, line = frames[0]
                    return function, filename, line + size + peak
            snapshots: Iterator[MemorySnapshot] = reader.get_memory_snapshots()
            for snapshot in snapshots:
                print(snapshot.time, snapshot.rss, snapshot.heap, started, fmt, name)
            temporal, peaks = reader.get_temporal_high_water_mark_allocation_records()
            for t in temporal:
                for interval in t.intervals:
                    print(interval.n_bytes, interval.deallocated_before_snapshot, peaks[0])
        return None


    def stats(path: Path) -> str:
        s: Stats = compute_statistics(path, num_largest=3)
        for (function, filename, line), count in s.top_locations_by_count:
            print(function, filename, line + count)
        set_log_level(10)
        return size_fmt(s.peak_memory_allocated) + size_fmt(1.5, suffix="iB")


    def live(port: int) -> int:
        total = 0
        with SocketReader(port) as reader:
            pid: Optional[int] = reader.pid
            for record in reader.get_current_snapshot(merge_threads=False):
                total += record.n_allocations
            print(pid, reader.is_active, reader.command_line)
        return total


    def run_command() -> int:
        try:
            return memray.commands.main(["stats", "--help"])
        except MemrayCommandError as e:
            return e.exit_code
        except MemrayError:
            return 1


    def report(path: Path, leaks: bool) -> None:
        with FileReader(path) as reader:
            records = (
                reader.get_leaked_allocation_records(merge_threads=False)
                if leaks
                else reader.get_high_watermark_allocation_records()
            )
            reporter: BaseReporter = FlameGraphReporter.from_snapshot(
                records,
                memory_records=reader.get_memory_snapshots(),
                native_traces=reader.metadata.has_native_traces,
            )
            if not leaks:
                reporter = TableReporter.from_snapshot(
                    records, memory_records=[], native_traces=False
                )
            with open(str(path) + ".html", "w") as f:
                reporter.render(f, reader.metadata, leaks, True, False)


    def misc() -> None:
        socket = SocketDestination(server_port=1234)
        same: FileDestination = FileDestinationToo("x.bin")
        print(socket.address, same.path, PythonAllocatorType.PYTHON_ALLOCATOR_PYMALLOC)
        memray.dump_all_records(os.devnull)
"""

MISUSES = """
    import memray
    from memray import FileReader, Tracker
    from memray._memray import size_fmt

    reader = FileReader("x.bin")
    peak: str = reader.metadata.peak_memory
    for record in reader.get_leaked_allocation_records():
        record.no_such_attribute
    size_fmt("many")
    Tracker("x.bin", native_traces="yes")
    Tracker("x.bin").get_surviving_objects().append(1)
    memray.NoSuchName
"""


def mypy(*args):
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-color-output", *map(str, args)],
        capture_output=True, text=True, timeout=600,
    )


def test_a_program_using_the_public_api_passes_mypy_strict(tmp_path):
    program = write(tmp_path / "user.py", USER_PROGRAM)
    proc = mypy("--cache-dir", tmp_path / "cache", program)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_misuses_of_the_api_are_type_errors(tmp_path):
    program = write(tmp_path / "bad.py", MISUSES)
    proc = mypy("--cache-dir", tmp_path / "cache", program)
    errors = [line.split(": error: ")[1] for line in proc.stdout.splitlines() if ": error: " in line]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(errors) == 6, proc.stdout
    expected = [
        'Incompatible types in assignment (expression has type "int", variable has type "str")',
        '"AllocationRecord" has no attribute "no_such_attribute"',
        'Argument 1 to "size_fmt" has incompatible type "str"',
        'Argument "native_traces" to "Tracker" has incompatible type "str"',
        '"tuple[object, ...]" has no attribute "append"',
        'Module has no attribute "NoSuchName"',
    ]
    for error, fragment in zip(errors, expected):
        assert error.lower().startswith(fragment.lower()), proc.stdout


def test_the_package_passes_mypy_strict(tmp_path):
    assert (PACKAGE / "py.typed").exists()
    assert (PACKAGE / "_memray.pyi").exists()
    proc = mypy("--cache-dir", tmp_path / "cache", "-p", "memray")
    assert proc.returncode == 0, proc.stdout + proc.stderr
