"""Live mode: ``memray run --live`` / ``--live-remote``, ``memray live PORT`` (the terminal UI,
driven in a real terminal with tmux), ``SocketDestination`` and ``SocketReader``.

The programs tracked here run until the test creates a ``stop`` file, so what the UI shows does
not depend on timing: a list grows in ``grow_list`` (on the main thread) while a thread named
``worker`` holds many small blocks made in ``many_small``.
"""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import itertools

from conftest import PYTHON, REPO, child_env, marks, program, write

import memray

ARTIFACTS = REPO / "tests" / "artifacts"
TMUX = shutil.which("tmux")

PROGRAM = """
import os
import sys
import threading
import time

STOP = sys.argv[1]
KEEP = []
SMALL = []


def many_small(ready):
    for _ in range(400):
        SMALL.append(bytearray(1500))  # @small
    ready.set()
    while not os.path.exists(STOP):
        time.sleep(0.05)


def grow_list():
    for _ in range(150):
        if os.path.exists(STOP):
            return
        KEEP.append(bytearray(100_000))  # @grow
        time.sleep(0.1)
    while not os.path.exists(STOP):
        time.sleep(0.05)


ready = threading.Event()
worker = threading.Thread(target=many_small, args=(ready,), name="worker")
worker.start()
ready.wait()
grow_list()
worker.join()
print("finished", len(KEEP), flush=True)
"""

UNITS = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_size(text):
    m = re.fullmatch(r"([0-9.]+)(B|kB|MB|GB|TB)", text)
    assert m, text
    return float(m.group(1)) * UNITS[m.group(2)]


def table_rows(pane):
    """The table's rows as (function, total bytes, own bytes, allocations, file:line)."""
    lines = pane.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Function")), None)
    if start is None:
        return []
    rows = []
    for line in lines[start + 1 :]:
        parts = line.split()
        if len(parts) < 7 or not parts[1][0].isdigit():
            break
        rows.append(
            (parts[0], parse_size(parts[1]), parse_size(parts[3]), int(parts[5]), parts[6])
        )
    return rows


def row_of(pane, function):
    for r in table_rows(pane):
        if r[0] == function:
            return r
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if TMUX is None:
    # CI installs it (`make test-python` runs `make tmux`): never skip there.
    if os.environ.get("CI"):
        raise RuntimeError("tmux is missing: run `make tmux`")


_SERVERS = itertools.count()


class Tmux:
    """One tmux server of our own, with one 80x24 window running a command."""

    def __init__(self, tmp_path, command, width=80, height=24):
        if TMUX is None:
            pytest.skip("needs tmux (make tmux)")
        self.sock = f"memray-live-test-{os.getpid()}-{next(_SERVERS)}"
        self.exit_file = tmp_path / "ui-exit-code"
        self.exit_file.unlink(missing_ok=True)
        script = tmp_path / "ui.sh"
        script.write_text(
            "#!/bin/sh\n"
            f"cd {tmp_path}\n"
            f"{command}\n"
            f"echo $? > {self.exit_file}\n"
            "sleep 600\n"
        )
        script.chmod(0o755)
        env = child_env(TERM="xterm-256color")
        env.pop("TMUX", None)
        subprocess.run(
            [TMUX, "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-x", str(width),
             "-y", str(height), str(script)],
            check=True, env=env,
        )

    def capture(self):
        return subprocess.run(
            [TMUX, "-L", self.sock, "capture-pane", "-p"],
            check=True, capture_output=True, text=True,
        ).stdout

    def keys(self, *keys):
        subprocess.run([TMUX, "-L", self.sock, "send-keys", *keys], check=True)

    def wait_for(self, predicate, timeout=30, what="the expected screen"):
        deadline = time.monotonic() + timeout
        pane = ""
        while time.monotonic() < deadline:
            pane = self.capture()
            if predicate(pane):
                return pane
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{pane}")

    def exit_code(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return int(self.exit_file.read_text())
            time.sleep(0.1)
        raise AssertionError(f"the UI did not exit; the pane shows:\n{self.capture()}")

    def kill(self):
        subprocess.run([TMUX, "-L", self.sock, "kill-server"], capture_output=True)


@pytest.fixture
def tmux_factory(tmp_path):
    made = []

    def make(command, **kw):
        t = Tmux(tmp_path, command, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.kill()


@pytest.fixture
def prog(tmp_path):
    path = write(tmp_path / "growing.py", PROGRAM)
    stop = tmp_path / "stop"
    return path, stop


def test_run_live_shows_the_growing_function(tmp_path, prog, tmux_factory):
    path, stop = prog
    memray = program("memray")
    ui = tmux_factory(f"{memray} run --live {path.name} {stop}")

    first = ui.wait_for(lambda p: row_of(p, "grow_list") is not None
                        and row_of(p, "grow_list")[1] >= 500_000,
                        what="grow_list in the table")
    assert "Memray live tracking" in first
    assert f"CMD: memray run --live {path.name}" in first
    assert "Heap Usage" in first
    assert "All threads" in first
    row = row_of(first, "grow_list")
    assert row[4] == f"growing.py:{marks(path)['grow']}", row  # the line that appends
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "live-pane.txt").write_text(first)
    print("\n" + first)

    # The list grows: a later snapshot shows more bytes in the same function.
    second = ui.wait_for(lambda p: row_of(p, "grow_list") is not None
                         and row_of(p, "grow_list")[1] >= row[1] + 1_000_000,
                         what="grow_list with more bytes")
    assert row_of(second, "grow_list")[1] > row[1]

    # Own memory: grow_list allocated the list's blocks itself, so it is on top.
    ui.keys("o")
    by_own = ui.wait_for(lambda p: table_rows(p) and table_rows(p)[0][0] == "grow_list",
                         what="grow_list first when sorted by own memory")
    # Allocation count: the worker's 400 small blocks come before grow_list's few big ones.
    ui.keys("a")
    def count_order(p):
        names = [r[0] for r in table_rows(p)]
        return ("many_small" in names and "grow_list" in names
                and names.index("many_small") < names.index("grow_list"))

    by_count = ui.wait_for(count_order,
                           what="many_small above grow_list when sorted by allocations")
    assert [r[0] for r in table_rows(by_count)] != [r[0] for r in table_rows(by_own)]
    counts = [r[3] for r in table_rows(by_count)]
    assert counts == sorted(counts, reverse=True)
    # Total memory: the module, which called grow_list, holds at least as much.
    ui.keys("t")
    by_total = ui.wait_for(lambda p: table_rows(p) and table_rows(p)[0][0] == "<module>",
                           what="<module> first when sorted by total memory")
    totals = [r[1] for r in table_rows(by_total)]
    assert totals == sorted(totals, reverse=True)

    # One thread at a time: the main thread has grow_list, the worker many_small.
    ui.keys("m")
    main_view = ui.wait_for(lambda p: "Thread 1 of 2" in p, what="the first thread")
    assert "TID: 0x" in main_view
    names = [r[0] for r in table_rows(main_view)]
    assert "grow_list" in names and "many_small" not in names
    ui.keys(">")
    worker_view = ui.wait_for(lambda p: "Thread 2 of 2 (worker)" in p, what="the worker thread")
    names = [r[0] for r in table_rows(worker_view)]
    assert "many_small" in names and "grow_list" not in names
    ui.keys("<")
    ui.wait_for(lambda p: "Thread 1 of 2" in p, what="back to the first thread")
    ui.keys("m")
    ui.wait_for(lambda p: "All threads" in p, what="threads merged again")

    # Pause: the table stays as it was while the header goes on.
    ui.keys("Space")
    paused = ui.wait_for(lambda p: "Table updates paused" in p, what="the pause")
    time.sleep(2.5)
    still = ui.capture()
    assert row_of(still, "grow_list") == row_of(paused, "grow_list")
    assert "Table updates paused" in still
    ui.keys("Space")
    ui.wait_for(lambda p: "Table updates paused" not in p
                and (row_of(p, "grow_list") or (0, 0))[1] > row_of(paused, "grow_list")[1],
                what="updates after unpausing")

    # The program exits: the UI says so and keeps its view until q.
    stop.touch()
    ended = ui.wait_for(lambda p: "Remote has disconnected" in p
                        and "The program has exited" in p, what="the exit report")
    assert "exit code 0" in ended
    time.sleep(1.5)
    assert "Remote has disconnected" in ui.capture()
    assert not (tmp_path / "ui-exit-code").exists()
    ui.keys("q")
    assert ui.exit_code() == 0


def test_run_live_in_a_small_and_a_wide_terminal(tmp_path, prog, tmux_factory):
    path, stop = prog
    memray = program("memray")
    for width, height in ((80, 24), (160, 40)):
        ui = tmux_factory(f"{memray} run --live {path.name} {stop}", width=width, height=height)
        pane = ui.wait_for(lambda p: row_of(p, "grow_list") is not None, what="grow_list")
        lines = pane.splitlines()
        assert lines[0].lstrip().startswith("Memray live tracking")
        # The keys fit on the last line.
        assert lines[-1].lstrip().startswith("q") and "Allocs" in lines[-1]
        assert "Pause" in lines[-1]
        # Quitting ends the program too.
        ui.keys("q")
        assert ui.exit_code() == 0
        ui.kill()


def listening_sockets(pid):
    """(address, port) of every TCP socket process `pid` listens on."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(m.group(1))
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                addr_hex, port_hex = local.split(":")
                raw = bytes.fromhex(addr_hex)
                if v6:
                    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    addr = socket.inet_ntop(socket.AF_INET6, raw)
                else:
                    addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
                found.append((addr, int(port_hex, 16)))
    return found


@contextlib.contextmanager
def reaped(proc):
    """On the way out, however it is left, kills and reaps ``proc`` if it is still running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def wait_listening(pid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = listening_sockets(pid)
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never listened")


def test_live_remote_waits_on_loopback_and_memray_live_connects(tmp_path, prog, tmux_factory):
    path, stop = prog
    port = free_port()
    proc = subprocess.Popen(
        [program("memray"), "run", "--live-remote", "--live-port", str(port), path.name, str(stop)],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with reaped(proc):
        line = proc.stdout.readline()
        assert re.fullmatch(
            rf"Run '/\S+/python3?(\.\d+)? -m memray live {port}' in another shell to see "
            r"live results\n",
            line,
        ), line
        # Waiting for its client, the program listens on the loopback interface only.
        assert wait_listening(proc.pid) == [("127.0.0.1", port)]
        assert proc.poll() is None

        ui = tmux_factory(f"{program('memray')} live {port}")
        pane = ui.wait_for(lambda p: row_of(p, "grow_list") is not None, what="grow_list")
        assert f"PID: {proc.pid}" in pane
        # The listener is gone once the client is connected.
        assert listening_sockets(proc.pid) == []
        ui.keys("q")
        assert ui.exit_code() == 0
        # The client went away: tracking stops, the program goes on to its end.
        time.sleep(0.5)
        assert proc.poll() is None
        stop.touch()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.startswith("finished "), out


def test_live_remote_default_port_and_quiet(tmp_path):
    script = write(tmp_path / "quick.py", "x = bytearray(1000)\n")
    proc = subprocess.Popen(
        [program("memray"), "run", "--live-remote", script.name],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with reaped(proc):
        line = proc.stdout.readline()
        m = re.fullmatch(
            r"Run '/\S+/python3?(?:\.\d+)? -m memray live (\d+)' in another shell to see "
            r"live results\n",
            line,
        )
        assert m, line
        port = int(m.group(1))
        assert wait_listening(proc.pid) == [("127.0.0.1", port)]
        with memray.SocketReader(port) as reader:
            assert reader.pid == proc.pid
            deadline = time.monotonic() + 20
            while reader.is_active and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not reader.is_active
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == ""  # nothing after the line read above

    # -q: nothing is printed.
    port = free_port()
    proc = subprocess.Popen(
        [program("memray"), "run", "-q", "--live-remote", "-p", str(port), script.name],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with reaped(proc):
        wait_listening(proc.pid)
        with memray.SocketReader(port):
            pass
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == ""


TRACKED = """
import sys
import time
import memray
from memray import SocketDestination

port = int(sys.argv[1])
KEEP = []


def hold(n):
    KEEP.append(bytearray(n))  # @hold


with memray.Tracker(destination=SocketDestination(server_port=port)):
    hold(250_000)
    for i in range({rounds}):
        hold(1000)
        del KEEP[1:]
        time.sleep(0.01)
print("finished", flush=True)
"""


def start_tracked(tmp_path, rounds):
    script = write(tmp_path / "tracked.py", TRACKED.replace("{rounds}", str(rounds)))
    start_tracked.line = marks(script)["hold"]
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, script.name, str(port)], cwd=tmp_path, env=child_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return proc, port


def test_tracker_socket_destination_listens_on_loopback_by_default(tmp_path):
    proc, port = start_tracked(tmp_path, rounds=10)
    with reaped(proc):
        assert wait_listening(proc.pid) == [("127.0.0.1", port)]
        # The program waits for its client before going on.
        time.sleep(0.5)
        assert proc.poll() is None
        with memray.SocketReader(port):
            pass
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == "finished\n"


def test_socket_reader_gives_the_live_snapshot(tmp_path):
    reader = memray.SocketReader(port=1)
    assert reader.command_line is None and reader.pid is None
    assert reader.is_active is False
    assert reader.has_native_traces is False
    assert list(reader.get_current_snapshot(merge_threads=True)) == []

    proc, port = start_tracked(tmp_path, rounds=300)
    line = None
    with reaped(proc):
        with memray.SocketReader(port) as reader:
            with pytest.raises(ValueError, match="more than once"):
                reader.__enter__()
            assert reader.pid == proc.pid
            assert reader.command_line == f"tracked.py {port}"
            assert reader.has_native_traces is False
            assert reader.is_active
            deadline = time.monotonic() + 20
            held = []
            while time.monotonic() < deadline:
                records = list(reader.get_current_snapshot(merge_threads=False))
                held = [r for r in records if r.size >= 250_000]
                if held:
                    break
                time.sleep(0.1)
            assert len(held) == 1
            record = held[0]
            assert record.n_allocations == 1
            assert record.thread_name == "MainThread"
            function, filename, line = record.stack_trace()[0]
            assert (function, Path(filename).name) == ("hold", "tracked.py")
            assert [f[0] for f in record.stack_trace()] == ["hold", "<module>"]
            merged = list(reader.get_current_snapshot(merge_threads=True))
            assert sum(r.size for r in merged) == sum(r.size for r in records)
            while reader.is_active and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not reader.is_active
            # At the end, only the block kept since the start is still live at that line.
            final = [r for r in reader.get_current_snapshot(merge_threads=True)
                     if r.stack_trace() and r.stack_trace()[0][0] == "hold"]
            assert sum(r.size for r in final) == record.size == 250_001  # with its NUL
        assert reader.is_active is False
        assert list(reader.get_current_snapshot(merge_threads=True)) == []
        assert reader.pid == proc.pid
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert line == start_tracked.line


@pytest.mark.parametrize("how", ["socket_reader", "raw_reset"])
def test_client_leaving_mid_run_neither_kills_nor_hangs_the_program(tmp_path, how):
    proc, port = start_tracked(tmp_path, rounds=300)  # about 3 seconds of work
    with reaped(proc):
        wait_listening(proc.pid)
        if how == "socket_reader":
            with memray.SocketReader(port) as reader:
                time.sleep(0.5)
                assert list(reader.get_current_snapshot(merge_threads=True))
        else:
            s = socket.create_connection(("127.0.0.1", port))
            s.recv(100)
            # SO_LINGER 0: the connection is reset, not closed cleanly.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == "finished\n"
    assert "Traceback" not in err


def test_memray_live_rejects_bad_ports():
    for port in ("0", "70000", "-3"):
        proc = subprocess.run([program("memray"), "live", port], capture_output=True,
                              text=True, env=child_env(), timeout=30)
        assert proc.returncode == 1, proc
        assert f"Invalid port: {port}" in proc.stderr
    proc = subprocess.run([program("memray"), "run", "--live-remote", "-p", "70000", "x.py"],
                          capture_output=True, text=True, env=child_env(), timeout=30)
    assert proc.returncode == 1
    assert proc.stderr == "Invalid port: 70000\n"


def test_run_live_flag_errors(tmp_path):
    script = write(tmp_path / "ok.py", "pass\n")
    for args, message in (
        (["--live-port", "1234"], "The --live-port argument requires --live-remote"),
        (["--live", "--follow-fork"], "--follow-fork cannot be used with the live TUI"),
        (["--live-remote", "--aggregate"], "--aggregate cannot be used with the live TUI"),
    ):
        proc = subprocess.run([program("memray"), "run", *args, script.name], cwd=tmp_path,
                              capture_output=True, text=True, env=child_env(), timeout=30)
        assert proc.returncode == 2, proc
        assert message in proc.stderr
    for args in (["--live", "--live-remote"], ["--live", "-o", "x.bin"]):
        proc = subprocess.run([program("memray"), "run", *args, script.name], cwd=tmp_path,
                              capture_output=True, text=True, env=child_env(), timeout=30)
        assert proc.returncode == 2, proc


def test_run_live_reports_a_program_that_cannot_start(tmp_path):
    bad = write(tmp_path / "bad.py", "def broken(:\n")
    proc = subprocess.run([program("memray"), "run", "--live", bad.name], cwd=tmp_path,
                          capture_output=True, text=True, env=child_env(), timeout=30,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert "Only valid Python files or commands can be executed under memray" in proc.stderr


def test_ctrl_c_interrupts_a_program_waiting_for_its_client(tmp_path):
    """Waiting for the live client must not make the program deaf to Ctrl-C (SIGINT)."""
    import signal
    import socket as _socket
    import subprocess
    import sys
    import time

    with _socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "import memray\n"
        "print('ready', flush=True)\n"
        f"with memray.Tracker(destination=memray.SocketDestination(server_port={port})):\n"
        "    pass\n"
    )
    # A program started in the background by a shell inherits SIGINT ignored, and Python then
    # leaves it ignored: the child gets the default disposition whoever runs the tests.
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Past the interpreter's start-up (3.9 loses a SIGINT that arrives while its signal module
    # initializes, which a loaded machine can stretch past a fixed sleep).
    assert proc.stdout.readline() == "ready\n"
    time.sleep(0.5)
    assert proc.poll() is None, "the program should be waiting for its client"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err


def test_live_remote_with_sampling(tmp_path):
    """`--sample-every` over a live stream: the block far above the rate is recorded (standing
    for itself, 250,001 bytes), and the many small ones mostly are not."""
    script = write(tmp_path / "sampled.py", """
        import time
        def hold():
            return bytearray(250_000)
        kept = hold()
        small = [bytearray(600) for _ in range(2000)]
        time.sleep(1.5)
    """)
    port = free_port()
    proc = subprocess.Popen(
        [program("memray"), "run", "-q", "--live-remote", "-p", str(port), "--sample-every",
         "8K", "--sample-seed", "2", script.name],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with reaped(proc):
        wait_listening(proc.pid)
        with memray.SocketReader(port) as reader:
            deadline = time.monotonic() + 20
            while reader.is_active and time.monotonic() < deadline:
                time.sleep(0.05)
            records = list(reader.get_current_snapshot(merge_threads=True))
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    held = [r for r in records if r.stack_trace() and r.stack_trace()[0][0] == "hold"]
    assert sum(r.size for r in held) == 250_001, [(r.size, r.stack_trace()) for r in records]
    # 2000 blocks of 601 bytes at one in 8 KiB: about 140 recorded, each standing for ~14
    # allocations (sd of the estimated count ~160).
    small = sum(r.n_allocations for r in records
                if r.stack_trace() and r.stack_trace()[0][0] == "<listcomp>"
                or r.stack_trace() and r.stack_trace()[0][1].endswith("sampled.py")
                and r.stack_trace()[0][0] == "<module>")
    assert 1350 < small < 2650, small
