"""``memray attach`` and ``memray detach`` on real running processes (gdb injects at a safe
point): exact figures of what was allocated while attached and nothing from before, the
target's own output and exit status, attach/detach cycles, a target whose environment has no
memray, and every failure case as one line and exit status 1."""

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

import memray
from conftest import BIN, DEALLOCATORS

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")

# Allocates 100,001 bytes (bytearray(100_000) and its NUL) at `grow`, line 8, every 50 ms, after
# 200,001 bytes at `early`, line 5, before anyone attaches; frees the early block after 2 s;
# prints a line and exits with status 7.
TARGET = """\
import sys, time
ready = sys.argv[1]
seconds = float(sys.argv[2])
def early():
    return bytearray(200_000)
def grow(store):
    # the block every iteration keeps (the list grows on the next line)
    block = bytearray(100_000)
    store.append(block)
def main():
    first = early()
    store = []
    open(ready, "w").close()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        grow(store)
        if first is not None and time.monotonic() - start > 2:
            first = None
        time.sleep(0.05)
    print("finished", len(store) > 0)
    return 7
raise SystemExit(main())
"""


def base_python():
    """The interpreter this suite runs on, outside any virtualenv: no memray in its path."""
    return getattr(sys, "_base_executable", sys.executable)


def start_target(tmp_path, seconds, python=None):
    prog = tmp_path / "target.py"
    prog.write_text(TARGET)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [python or base_python(), str(prog), str(ready), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc, prog


def memray_cmd(*args, check=True):
    proc = subprocess.run(
        [str(BIN / "memray"), *map(str, args)], capture_output=True, text=True, timeout=120
    )
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def finish(proc):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 7, (out, err)
    assert out == "finished True\n", out
    assert err == "", err


def records_at(capture, prog):
    """Sizes of the allocations whose innermost Python frame is in the target program, by
    (function, line)."""
    sites = {}
    for r in memray.FileReader(capture).get_allocation_records():
        if r.allocator in DEALLOCATORS:
            continue
        stack = r.stack_trace()
        if stack and stack[0][1] == str(prog):
            sites.setdefault((stack[0][0], stack[0][2]), []).append(r.size)
    return sites


def test_attach_with_duration_records_only_what_follows(tmp_path):
    proc, prog = start_target(tmp_path, seconds=5)
    out = tmp_path / "attached.bin"
    memray_cmd("attach", "--duration", "2", "-o", out, proc.pid)
    finish(proc)
    sites = records_at(out, prog)
    # Only `grow`'s blocks, each exactly 100,001 bytes, about 40 of them in 2 s (a loaded
    # machine may run fewer iterations); nothing from `early`, allocated before the attach.
    assert set(sites) == {("grow", 8)}, sites
    sizes = sites[("grow", 8)]
    assert set(sizes) == {100_001}, sizes
    assert 5 <= len(sizes) <= 41, len(sizes)
    meta = memray.FileReader(out).metadata
    assert 1.5 <= (meta.end_time - meta.start_time).total_seconds() <= 3.5
    # The early block's free (of a block the capture never saw) is no error in the reports.
    for report in ("stats", "summary", "tree"):
        memray_cmd(report, out)
    memray_cmd("flamegraph", "-f", "-o", tmp_path / "f.html", out)
    memray_cmd("flamegraph", "--leaks", "-f", "-o", tmp_path / "l.html", out)


def test_attach_detach_attach_again(tmp_path):
    proc, prog = start_target(tmp_path, seconds=8)
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    memray_cmd("attach", "-o", first, proc.pid)
    time.sleep(1)
    detached = memray_cmd("detach", proc.pid)
    assert "Detached" in detached.stderr
    memray_cmd("attach", "-o", second, proc.pid)
    time.sleep(1)
    memray_cmd("detach", proc.pid)
    finish(proc)
    for capture in (first, second):
        sites = records_at(capture, prog)
        assert set(sites[("grow", 8)]) == {100_001}, sites
        assert len(sites[("grow", 8)]) >= 3


# Eight threads allocate and free blocks of known sizes until the file named by argv[2] exists;
# each checks its own sum, and the program prints how many threads got it right.
THREADED = """\
import os, sys, threading, time
ready, stop = sys.argv[1], sys.argv[2]
def work(out):
    total = count = 0
    while not os.path.exists(stop):
        for i in range(200):
            block = bytearray(1000 + count % 7)
            total += len(block)
            count += 1
        time.sleep(0.001)
    out.append(total == sum(1000 + i % 7 for i in range(count)))
def main():
    out = []
    threads = [threading.Thread(target=work, args=(out,)) for _ in range(8)]
    for t in threads:
        t.start()
    open(ready, "w").close()
    # The main thread keeps running Python code (memray attach gets in through it).
    while any(t.is_alive() for t in threads):
        time.sleep(0.01)
    print(sum(out), "of", len(out))
main()
"""


def start_until_stopped(tmp_path, name, source):
    """Starts a program that takes the paths of its ready file and its stop file; returns once
    it is ready, with (process, program path, stop file)."""
    prog = tmp_path / name
    prog.write_text(source)
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    proc = subprocess.Popen([base_python(), str(prog), str(ready), str(stop)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    return proc, prog, stop


def test_twenty_attach_detach_cycles_with_eight_threads(tmp_path):
    proc, _, stop = start_until_stopped(tmp_path, "threaded.py", THREADED)
    try:
        for i in range(20):
            capture = tmp_path / f"c{i}.bin"
            memray_cmd("attach", "-o", capture, proc.pid)
            memray_cmd("detach", proc.pid)
            assert proc.poll() is None
            assert memray.FileReader(capture).metadata.total_allocations > 0
    finally:
        stop.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out == "8 of 8\n", out
    assert err == ""


# The main thread waits in join() (outside the interpreter: it runs no pending call); the
# worker allocates 50,001 bytes at `work`, line 7, and sleeps (releasing the GIL) until the file
# named by argv[2] exists.
BLOCKED = """\
import os, sys, threading, time
ready, stop = sys.argv[1], sys.argv[2]
def work(out):
    n = 0
    while not os.path.exists(stop):
        # one of the last 100 blocks, kept in a list that never grows
        out[n % 100] = bytearray(50_000)
        n += 1
        time.sleep(0.05)
def main():
    out = [None] * 100
    worker = threading.Thread(target=work, args=(out,))
    worker.start()
    open(ready, "w").close()
    worker.join()
    print("kept", any(out))
    return 5
raise SystemExit(main())
"""


def test_a_target_whose_main_thread_is_blocked_outside_the_interpreter(tmp_path):
    proc, prog, stop = start_until_stopped(tmp_path, "blocked.py", BLOCKED)
    capture = tmp_path / "blocked.bin"
    try:
        memray_cmd("attach", "-o", capture, proc.pid)
        time.sleep(1)
        memray_cmd("detach", proc.pid)
        assert proc.poll() is None
    finally:
        stop.touch()
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out, err) == (5, "kept True\n", "")
    sites = records_at(capture, prog)
    assert set(sites) == {("work", 7)}, sites
    assert set(sites[("work", 7)]) == {50_001}
    assert len(sites[("work", 7)]) >= 3


def test_a_target_whose_environment_has_no_memray(tmp_path):
    venv = tmp_path / "bare"
    subprocess.run([base_python(), "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    no_memray = subprocess.run([python, "-c", "import memray"], capture_output=True)
    assert no_memray.returncode != 0
    proc, prog = start_target(tmp_path, seconds=4, python=str(python))
    out = tmp_path / "bare.bin"
    memray_cmd("attach", "--duration", "1", "-o", out, proc.pid)
    finish(proc)
    assert set(records_at(out, prog)[("grow", 8)]) == {100_001}


def one_error_line(proc, text):
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("memray: ") and text in lines[0], lines


def test_failures_are_one_line_and_leave_the_target_unharmed(tmp_path):
    # No such process.
    dead = subprocess.Popen(["true"])
    dead.wait()
    one_error_line(memray_cmd("attach", "-o", tmp_path / "x.bin", dead.pid, check=False),
                   f"no process with PID {dead.pid}")
    # Not a Python process.
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        one_error_line(memray_cmd("attach", "-o", tmp_path / "x.bin", sleeper.pid, check=False),
                       "is not a Python process")
    finally:
        sleeper.kill()
        sleeper.wait()
    proc, prog = start_target(tmp_path, seconds=6)
    # Detach with nothing to detach.
    one_error_line(memray_cmd("detach", proc.pid, check=False), "is not being tracked")
    # Already tracking.
    memray_cmd("attach", "-o", tmp_path / "a.bin", proc.pid)
    one_error_line(memray_cmd("attach", "-o", tmp_path / "b.bin", proc.pid, check=False),
                   "already being tracked")
    memray_cmd("detach", proc.pid)
    finish(proc)
    assert not (tmp_path / "b.bin").exists()


def other_python():
    """An installed CPython of another minor version than this suite's, if any."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    ours = "{}.{}".format(*sys.version_info[:2])
    for candidate in sorted(root.glob("3.*/bin/python3")):
        if not candidate.parent.parent.name.startswith(ours + "."):
            return candidate
    return None


def test_a_target_of_another_python_version_is_refused(tmp_path):
    python = other_python()
    if python is None:
        pytest.skip("no CPython of another version on this machine")
    proc, _ = start_target(tmp_path, seconds=3, python=str(python))
    result = memray_cmd("attach", "-o", tmp_path / "v.bin", proc.pid, check=False)
    one_error_line(result, "but this memray is built for Python")
    finish(proc)


def test_ptrace_not_permitted_says_what_to_change(tmp_path):
    # memray run as `nobody` against a target of root's. `nobody` cannot enter pyenv's
    # interpreters (under /root), so memray runs on the system's python3 when it is of this
    # version, with the package from the source tree.
    system = Path("/usr/bin/python3")
    if os.geteuid() != 0 or shutil.which("setpriv") is None or not system.exists():
        pytest.skip("needs root, setpriv and /usr/bin/python3")
    version = subprocess.run([system, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip("the system's python3 is of another version than the built extension")
    # Nor may it enter a checkout under a private directory: the programs and the package go
    # into a directory anyone can read.
    shared = Path(tempfile.mkdtemp(prefix="memray-nobody-"))
    try:
        shared.chmod(0o755)
        (shared / "bin").mkdir()
        for name in ("memray", "memray-capture"):
            shutil.copy2(BIN / name, shared / "bin" / name)
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        shutil.copytree(
            Path(memray.__file__).resolve().parent, shared / "lib" / "memray",
            ignore=lambda d, names: [n for n in names if n == "__pycache__"
                                     or (n.endswith(".so") and not n.endswith(suffix))])
        for d in [shared, *shared.rglob("*")]:
            d.chmod(0o755 if d.is_dir() or os.access(d, os.X_OK) else 0o644)
        proc, _ = start_target(tmp_path, seconds=3)
        env = dict(os.environ, MEMRAY_PYTHON=str(system), PYTHONPATH=str(shared / "lib"))
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             str(shared / "bin" / "memray"), "attach", "-o", "/tmp/never.bin", str(proc.pid)],
            capture_output=True, text=True, timeout=60, env=env)
        one_error_line(result, "ptrace")
        assert "CAP_SYS_PTRACE" in result.stderr and "ptrace_scope" in result.stderr
        finish(proc)
    finally:
        shutil.rmtree(shared)


def test_usage_errors(tmp_path):
    for args in (["attach"], ["attach", "--bogus", "1"], ["detach"], ["detach", "--bogus", "1"],
                 ["attach", "--duration", "0", "-o", "x.bin", "1"], ["attach", "--aggregate", "1"],
                 ["attach", "--method", "nope", "-o", "x.bin", "1"]):
        proc = memray_cmd(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "error:" in proc.stderr, proc.stderr


def test_attach_without_output_opens_the_live_view_and_quitting_detaches(tmp_path):
    from test_live import Tmux, row_of

    proc, prog = start_target(tmp_path, seconds=12)
    ui = Tmux(tmp_path, f"{BIN / 'memray'} attach {proc.pid}", width=120, height=30)
    try:
        pane = ui.wait_for(lambda p: row_of(p, "grow") is not None
                           and row_of(p, "grow")[1] >= 500_000, what="grow in the live table")
        assert f"PID: {proc.pid}" in pane
        assert row_of(pane, "grow")[4].endswith("/target.py:8"), row_of(pane, "grow")
        assert row_of(pane, "early") is None  # allocated before the attach
        ui.keys("q")
        assert ui.exit_code() == 0
    finally:
        ui.kill()
    # Quitting detached: the target runs on, tracking stopped, and it prints nothing of it.
    assert proc.poll() is None
    one_error_line(memray_cmd("detach", proc.pid, check=False), "is not being tracked")
    finish(proc)


# The target of the sys.remote_exec test: runs every script path written to `remote` (as
# CPython 3.14 runs sys.remote_exec's scripts: on the main thread, between two bytecodes).
REMOTE_TARGET = """\
import os, sys, time
ready, remote, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
def grow(store):
    block = bytearray(100_000)
    store.append(block)
store = []
open(ready, "w").close()
start = time.monotonic()
while time.monotonic() - start < seconds:
    grow(store)
    if os.path.exists(remote):
        with open(remote) as f:
            script = f.read()
        os.unlink(remote)
        exec(open(script).read(), {"__name__": "__remote__"})
    time.sleep(0.02)
print("finished")
"""

# `memray attach` and `memray detach` as they run where sys.remote_exec exists (3.14), with a
# stand-in that hands the script to the target above instead.
REMOTE_DRIVER = """\
import sys
remote = sys.argv[1]
def remote_exec(pid, script):
    with open(remote + ".tmp", "w") as f:
        f.write(script)
    import os
    os.rename(remote + ".tmp", remote)
sys.remote_exec = remote_exec
from memray.commands.attach import main
sys.exit(main(sys.argv[2:]))
"""


def test_the_sys_remote_exec_path_with_a_stand_in(tmp_path):
    import json

    prog = tmp_path / "remote_target.py"
    prog.write_text(REMOTE_TARGET)
    driver = tmp_path / "driver.py"
    driver.write_text(REMOTE_DRIVER)
    ready, remote = tmp_path / "ready", tmp_path / "remote"
    proc = subprocess.Popen([base_python(), str(prog), str(ready), str(remote), "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    out = tmp_path / "remote.bin"
    request = {"output": str(out), "force": False, "compress": True, "aggregate": False,
               "native": False, "follow_fork": False, "trace_python_allocators": False,
               "duration": None, "port": None, "method": "auto", "verbose": False}
    for action, req in (("attach", request), ("detach", {"method": "auto"})):
        if action == "detach":
            time.sleep(1)
        step = subprocess.run([sys.executable, str(driver), str(remote), action, str(proc.pid),
                               json.dumps(req)], capture_output=True, text=True, timeout=60)
        assert step.returncode == 0, step.stderr
    again = subprocess.run([sys.executable, str(driver), str(remote), "detach", str(proc.pid),
                            json.dumps({"method": "auto"})], capture_output=True, text=True,
                           timeout=60)
    one_error_line(again, "is not being tracked")
    stdout, stderr = proc.communicate(timeout=60)
    assert (proc.returncode, stdout, stderr) == (0, "finished\n", "")
    sites = records_at(out, prog)
    assert set(sites[("grow", 4)]) == {100_001}, sites


def test_an_idle_target_times_out_and_is_left_unharmed(tmp_path):
    """A process that allocates nothing never reaches gdb's stop: the attach gives up with one
    line, and the breakpoint it set is removed (killing gdb would leave it in malloc, and the
    process would die at its next allocation)."""
    import json

    prog = tmp_path / "idle.py"
    prog.write_text("import time\ntime.sleep(8)\nx = bytearray(1000)\nprint('idle done')\n")
    proc = subprocess.Popen([base_python(), str(prog)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    request = {"output": str(tmp_path / "idle.bin"), "force": False, "compress": True,
               "aggregate": False, "native": False, "follow_fork": False,
               "trace_python_allocators": False, "duration": None, "port": None,
               "method": "gdb", "verbose": False, "timeout": 2}
    result = subprocess.run([sys.executable, "-m", "memray.commands.attach", "attach",
                             str(proc.pid), json.dumps(request)],
                            capture_output=True, text=True, timeout=60)
    one_error_line(result, "reached no point where memray can get in within 2 s")
    stdout, stderr = proc.communicate(timeout=30)
    assert (proc.returncode, stdout, stderr) == (0, "idle done\n", "")


def test_attach_with_sampling(tmp_path):
    """`memray attach --sample-every`: the capture is sampled at that rate (each 100,001-byte
    block, far above the rate, is recorded with probability 1 - exp(-100001/1024), standing
    for itself)."""
    proc, prog = start_target(tmp_path, seconds=4)
    out = tmp_path / "sampled.bin"
    memray_cmd("attach", "--duration", "2", "--sample-every", "1K", "--sample-seed", "5",
               "-o", out, proc.pid)
    finish(proc)
    assert memray.FileReader(out).metadata.sample_every == 1024
    sizes = records_at(out, prog)[("grow", 8)]
    assert set(sizes) == {100_001} and 5 <= len(sizes) <= 41, sizes
