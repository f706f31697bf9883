"""The capture's destination fails while a program is tracked: the disk fills up (a small tmpfs
this test mounts, as root), or a live client goes away.

In every case the tracked program runs on unchanged and exits with its own status, the tracker
says so in one line on stderr and stops writing, and the capture keeps what was recorded: it
reads up to its last complete chunk, and the reports say it was cut short. A file's journal
reserves its blocks before it maps them, so a full disk never raises SIGBUS.
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import memray

from conftest import marks, memray_run, program, run, write

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a small tmpfs needs root"
)

CUT_SHORT = "was cut short"
STOPPED = "tracking stopped, the capture keeps what was recorded before"


@pytest.fixture
def small_disk(tmp_path):
    """A mounted tmpfs of the size asked for: ``small_disk("20m")`` gives its path."""
    mounted = []

    def mount(size):
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


# Allocates BEFORE buffers of 4000 bytes at @before, fills the disk by writing a file until there
# is no room, allocates AFTER more at @after, and exits with status 3.
FILL = """
import sys

BEFORE = 5000
AFTER = 3000

def before():
    out = [None] * BEFORE
    for i in range(BEFORE):
        out[i] = bytearray(4000)  # @before
    return out

def after():
    out = [None] * AFTER
    for i in range(AFTER):
        out[i] = bytearray(4000)  # @after
    return out

def fill(path):
    try:
        with open(path, "wb") as f:
            while True:
                f.write(b"x" * 65536)
                f.flush()
    except OSError as e:
        print("disk full:", e.strerror)

kept = before()
fill(sys.argv[1])
kept += after()
print("program done", len(kept))
sys.exit(3)
"""


def allocations_at(capture: Path, line: int, size: int) -> int:
    """How many allocations of ``size`` bytes FileReader finds at ``line`` of the program."""
    with memray.FileReader(str(capture)) as reader:
        return sum(
            1
            for r in reader.get_allocation_records()
            if r.size == size
            and any(frame[2] == line for frame in r.stack_trace())
        )


def assert_program_unchanged(proc, lines: int):
    assert proc.returncode == 3, proc.stderr
    assert "disk full: No space left on device" in proc.stdout
    assert "program done 8000" in proc.stdout
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == lines, proc.stderr
    assert errors[-1].startswith("memray: could not write to "), proc.stderr
    assert "No space left on device" in errors[-1] and STOPPED in errors[-1]
    assert "Traceback" not in proc.stderr


def assert_reports_cut_short(capture: Path, report: str):
    proc = run([program(report), str(capture)])
    assert proc.returncode == 0, proc.stderr
    assert CUT_SHORT in proc.stderr


@pytest.mark.parametrize("aggregate", [False, True], ids=["all", "aggregate"])
def test_the_disk_fills_up_while_tracked(tmp_path, small_disk, aggregate):
    disk = small_disk("20m")
    script = write(tmp_path / "fill.py", FILL)
    capture = disk / "out.bin"
    options = ["--aggregate"] if aggregate else []
    proc = memray_run(
        [*options, "-o", capture, script, disk / "filler"], cwd=tmp_path, timeout=120
    )
    assert_program_unchanged(proc, lines=1)
    # Everything recorded before the disk filled is in the capture.
    m = marks(script)
    if aggregate:
        with memray.FileReader(str(capture)) as reader:
            assert reader.metadata.file_format == memray.FileFormat.AGGREGATED_ALLOCATIONS
            records = list(reader.get_high_watermark_allocation_records())
        at_before = [
            r
            for r in records
            if any(frame[2] == m["before"] for frame in r.stack_trace())
        ]
        by_allocator: dict = {}
        for r in at_before:
            n, size = by_allocator.get(r.allocator, (0, 0))
            by_allocator[r.allocator] = (n + r.n_allocations, size + r.size)
        # bytearray(4000) mallocs 4001 bytes (its trailing NUL): all 5000 are there. An
        # aggregated record cannot be split by size: whatever else the line holds is the
        # interpreter's own bookkeeping for the bytearray objects, a few blocks made as it
        # needs them (on this run or not): pymalloc arenas of 256 KiB or 1 MiB (by version,
        # malloc'ed or mapped by build), and from 3.10 a node of its arena map (2 KiB).
        n, size = by_allocator.pop(memray.AllocatorType.MALLOC, (0, 0))
        extra, extra_bytes = n - 5000, size - 5000 * 4001
        assert 0 <= extra <= 8 and 0 <= extra_bytes <= extra * (1 << 20), (n, size)
        assert (extra == 0) == (extra_bytes == 0), (n, size)
        assert set(by_allocator) <= {memray.AllocatorType.MMAP, memray.AllocatorType.CALLOC}, (
            by_allocator
        )
        assert_reports_cut_short(capture, "memray-summary")
    else:
        # bytearray(4000) asks for 4001 bytes (its trailing NUL).
        assert allocations_at(capture, m["before"], 4001) == 5000
        assert_reports_cut_short(capture, "memray-stats")


def test_a_disk_without_room_for_the_journal(tmp_path, small_disk):
    """A disk with less room than the journal's first slot: the capture is written without a
    journal (one line says so) until the disk is full (one more line)."""
    disk = small_disk("1m")
    script = write(
        tmp_path / "grow.py",
        """
        import sys
        kept = []
        for i in range(3000000):
            b = bytearray(100 + i % 1000)
            if i % 3 == 0:
                kept.append(b)
            if len(kept) > 1000:
                del kept[:500]
        print("program done")
        sys.exit(3)
        """,
    )
    capture = disk / "out.bin"
    proc = memray_run(["-o", capture, script], cwd=tmp_path, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "program done" in proc.stdout
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 2, proc.stderr
    assert errors[0].startswith(f"memray: no room for the journal of {capture}")
    assert STOPPED in errors[1]
    assert_reports_cut_short(capture, "memray-stats")
    stats = run([program("memray-stats"), "--json", capture])
    assert '"total_num_allocations": 0' not in stats.stdout


def test_a_live_client_that_goes_away(tmp_path):
    script = write(
        tmp_path / "slow.py",
        """
        import sys, time
        kept = []
        for i in range(30):
            kept.append([bytearray(1000) for _ in range(2000)])
            time.sleep(0.05)
        print("program done", len(kept))
        sys.exit(3)
        """,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [program("memray"), "run", "--live-remote", "--live-port", str(port), str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            client = socket.create_connection(("127.0.0.1", port))
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the tracker never listened"
            time.sleep(0.05)
    assert client.recv(16).startswith(b"MEMRAYRS")
    client.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "program done 30" in out
    errors = err.strip().splitlines()
    assert len(errors) == 1, err
    assert errors[0].startswith("memray: the live client stopped reading"), err
    assert "tracking stopped" in errors[0]
