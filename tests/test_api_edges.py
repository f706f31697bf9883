"""Memray's behaviour at the edges of the API: invalid argument combinations fail before any
destination is opened, thread names are those of the moment of each allocation,
`memray.commands.main` runs a command and returns its status, and `memray._test`'s helpers take
sizes as Memray's do."""

import socket
import subprocess
import sys
import time

import pytest

import memray
from memray import FileFormat, SocketDestination

from conftest import Capture, child_env, marks, run_python, write


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kwargs, message", [
    ({"file_format": FileFormat.AGGREGATED_ALLOCATIONS}, "AGGREGATED_ALLOCATIONS requires an output file"),
    ({"follow_fork": True}, "follow_fork requires an output file"),
    ({"follow_fork": True, "file_format": FileFormat.AGGREGATED_ALLOCATIONS}, "requires an output file"),
])
def test_socket_destination_combinations_fail_at_once(kwargs, message):
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=message):
        memray.Tracker(destination=SocketDestination(server_port=free_port()), **kwargs)
    assert time.monotonic() - start < 1  # never waits for a client
    assert not memray._memray.is_tracking()


def test_file_and_destination_together_or_neither():
    with pytest.raises(TypeError, match="Exactly one of 'file_name' or 'destination'"):
        memray.Tracker()
    with pytest.raises(TypeError, match="Exactly one of 'file_name' or 'destination'"):
        memray.Tracker("a.bin", destination=memray.FileDestination("b.bin"))


def test_valid_combinations_on_a_file(tmp_path):
    for i, kwargs in enumerate([
        {"native_traces": True, "follow_fork": True, "trace_python_allocators": True},
        {"file_format": FileFormat.AGGREGATED_ALLOCATIONS, "native_traces": True,
         "follow_fork": True, "trace_python_allocators": True},
    ]):
        with memray.Tracker(tmp_path / f"{i}.bin", **kwargs):
            keep = bytearray(333_333)
        del keep
        with memray.FileReader(tmp_path / f"{i}.bin") as reader:
            assert reader.metadata.has_native_traces
            assert reader.metadata.trace_python_allocators


NAMES = """
import sys, threading
import memray
from memray._test import MemoryAllocator, set_thread_name

KEEP = [MemoryAllocator() for _ in range(5)]
inside_done, renamed = threading.Event(), threading.Event()


def work():
    KEEP[0].valloc(61_000)  # @given_before_start
    threading.current_thread().name = "set-inside"
    KEEP[1].valloc(62_000)  # @set_inside
    inside_done.set()
    renamed.wait()
    KEEP[2].valloc(63_000)  # @set_outside
    set_thread_name("by-prctl")
    KEEP[3].valloc(64_000)  # @by_prctl


with memray.Tracker(sys.argv[1]):
    t = threading.Thread(target=work, name="given-before-start")
    t.start()
    inside_done.wait()
    t.name = "set-outside"
    renamed.set()
    t.join()
"""


def test_each_record_has_the_thread_name_of_its_moment(tmp_path):
    script = write(tmp_path / "prog.py", NAMES)
    run_python(script, "out.bin")
    with memray.FileReader(tmp_path / "out.bin") as reader:
        names = {r.size: r.thread_name for r in reader.get_allocation_records()
                 if r.size in (61_000, 62_000, 63_000, 64_000)}
    assert names == {61_000: "given-before-start", 62_000: "set-inside",
                     63_000: "set-outside", 64_000: "by-prctl"}


def test_starting_and_stopping_a_tracker_records_nothing_of_its_own(tmp_path):
    # On 3.10 a call with 16 keyword arguments frees a block of the interpreter's once it
    # returns: the tracker's own start must not leave such a record in every capture.
    script = write(tmp_path / "prog.py", """
import memray
with memray.Tracker("out.bin"):
    pass
""")
    run_python(script, "out.bin")
    with memray.FileReader(tmp_path / "out.bin") as reader:
        assert [(r.allocator, r.size) for r in reader.get_allocation_records()] == []
        assert reader.metadata.total_allocations == 0


def test_a_subprocess_that_fails_to_exec_leaves_tracking_on(tmp_path):
    # subprocess's child (a vfork child on 3.10+, sharing the parent's memory) calls _exit
    # when exec fails, and exec itself on success: neither may finish the parent's capture.
    script = write(tmp_path / "prog.py", """
import subprocess, sys
import memray
with memray.Tracker("out.bin"):
    try:
        subprocess.run(["/nonexistent/program"])
    except FileNotFoundError:
        pass
    subprocess.run(["/bin/true"], check=True)
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    block = bytearray(7_654_321)  # @after
    print(memray._memray.is_tracking())
""")
    line = marks(script)["after"]
    proc = run_python(script, "out.bin")
    assert proc.stdout == "True\n"
    with memray.FileReader(tmp_path / "out.bin") as reader:
        sizes = [r.size for r in reader.get_allocation_records()
                 if r.size == 7_654_322 and r.stack_trace()[0][2] == line]
    assert sizes == [7_654_322]


def test_commands_main_runs_a_command_and_returns_its_status(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        with memray.Tracker(sys.argv[1]):
            keep = bytearray(444_444)
    """)
    run_python(script, "out.bin")
    probe = (
        "import sys\n"
        "from memray.commands import main\n"
        f"status = main(['stats', {str(tmp_path / 'out.bin')!r}])\n"
        "print('status', status)\n"
        "print('status', main(['no-such-command']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=child_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "status 0" in lines and lines[-1] == "status 2", proc.stdout
    assert "Total memory allocated" in proc.stdout
    assert "unknown command 'no-such-command'" in proc.stderr


def test_test_helpers_take_sizes_as_memray_does(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        from memray._test import MemoryAllocator, MmapAllocator

        a = MemoryAllocator()
        with memray.Tracker(sys.argv[1]):
            a.valloc(71_234.9)  # @float
            a.free()
            m = MmapAllocator(3 * 4096.0)  # @mmap_float
        try:
            a.malloc(-1)
        except OverflowError as e:
            print("negative:", e)
        try:
            a.malloc("12")
        except TypeError:
            print("str: TypeError")
    """)
    m = marks(script)
    proc = run_python(script, "out.bin")
    assert proc.stdout == "negative: can't convert negative value to size_t\nstr: TypeError\n"
    cap = Capture(tmp_path / "out.bin")
    (rec,) = cap.sized(cap.allocs, 71_234)
    assert cap.short_stack(rec)[1] == ("<module>", "prog.py", m["float"])
    assert len(cap.sized(cap.allocs, 3 * 4096, memray.AllocatorType.MMAP)) == 1
