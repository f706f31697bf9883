"""Hostile and racy programs (issue 11): exact totals from many threads, dlopen racing with
allocating threads, names with terminal escapes and undecodable bytes, and a symlink planted
where a report or capture is to be written."""

import json
import os
import subprocess
import sys

import memray

from conftest import BIN, child_env

THREADS = """
import sys, threading, ctypes
import memray
libc = ctypes.CDLL(None)
malloc = ctypes.pythonapi.PyMem_RawMalloc
malloc.restype = ctypes.c_void_p
malloc.argtypes = [ctypes.c_size_t]
free = ctypes.pythonapi.PyMem_RawFree
free.argtypes = [ctypes.c_void_p]

def work(n, keep):
    for i in range(200):
        p = malloc(4096 + n)
        if i % 50 == 0:
            keep.append(p)
        else:
            free(p)

keep = []
with memray.Tracker(sys.argv[1]):
    threads = [threading.Thread(target=work, args=(n, keep)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
print(len(keep))
"""


def test_fifty_threads_allocating_and_freeing_give_exact_totals(tmp_path):
    (tmp_path / "t.py").write_text(THREADS)
    out = tmp_path / "out.bin"
    proc = subprocess.run([sys.executable, "t.py", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, env=child_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "200\n"
    r = memray.FileReader(out)
    work = [x for x in r.get_allocation_records()
            if x.allocator == memray.AllocatorType.MALLOC and 4096 <= x.size < 4096 + 50
            and x.stack_trace() and x.stack_trace()[0][0] == "work"]
    assert len(work) == 50 * 200
    assert sum(x.size for x in work) == sum(200 * (4096 + n) for n in range(50))
    leaked = [x for x in r.get_leaked_allocation_records(merge_threads=False)
              if x.allocator == memray.AllocatorType.MALLOC
              and x.stack_trace() and x.stack_trace()[0][0] == "work"]
    assert sum(x.n_allocations for x in leaked) == 200
    assert sum(x.size for x in leaked) == sum(4 * (4096 + n) for n in range(50))
    assert len({x.tid for x in work}) == 50


DLOPEN_RACE = r"""
import ctypes, ctypes.util, sys, threading, time
import memray

stop = False
def churn():
    while not stop:
        b = [bytearray(3000) for _ in range(50)]
        del b

with memray.Tracker(sys.argv[1]):
    threads = [threading.Thread(target=churn) for _ in range(4)]
    for t in threads:
        t.start()
    libs = []
    for name in ("m", "z", "bz2", "lzma", "ssl", "crypto", "ffi", "uuid", "sqlite3"):
        path = ctypes.util.find_library(name)
        if path:
            libs.append(ctypes.CDLL(path))
    import _ssl, _sqlite3, _lzma, _bz2, _decimal  # extension modules: dlopen under load
    time.sleep(0.2)
    stop = True
    for t in threads:
        t.join()
print("done", len(libs) > 0)
"""


def test_dlopen_while_other_threads_allocate(tmp_path):
    (tmp_path / "d.py").write_text(DLOPEN_RACE)
    out = tmp_path / "out.bin"
    for _ in range(3):
        proc = subprocess.run([sys.executable, "d.py", str(out)], cwd=tmp_path,
                              capture_output=True, text=True, env=child_env(), timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "done True\n"
        assert memray.FileReader(out).metadata.total_allocations > 0
        out.unlink()


HOSTILE = r"""
import sys
import memray
name = "evil\x1b[2J\x1b[31mred\x07\nline"
src = "def f():\n    return bytearray(123456)\n"
code = compile(src, "weird\udcff\x1b]0;title\x07.py", "exec")
ns = {}
exec(code, ns)
fn = ns["f"]
fn.__code__ = fn.__code__.replace(co_name=name)
with memray.Tracker(sys.argv[1]):
    KEEP = fn()
"""


def test_hostile_names_are_inert_in_terminal_reports(tmp_path):
    (tmp_path / "h.py").write_text(HOSTILE)
    out = tmp_path / "out.bin"
    proc = subprocess.run([sys.executable, "h.py", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, env=child_env())
    assert proc.returncode == 0, proc.stderr
    for program, args in [("memray-summary", []), ("memray-tree", []), ("memray", ["stats"])]:
        cmd = [os.path.join(BIN, program), *args, str(out)]
        r = subprocess.run(cmd, capture_output=True, env=dict(os.environ, MEMRAY_COMPAT="1")
                           if program == "memray" else None)
        assert r.returncode == 0, (program, r.stderr)
        text = r.stdout.decode("utf-8")  # valid UTF-8, whatever the names held
        assert "\x1b[2J" not in text and "\x07" not in text and "\x1b]0;" not in text, program
        assert "\\x1b[2J" in text, (program, text)
    # The machine-readable form keeps the real name (JSON escapes it).
    j = json.loads(subprocess.run([os.path.join(BIN, "memray-stats"), "--json", str(out)],
                                  capture_output=True, text=True).stdout)
    assert any(e["location"].startswith("evil\x1b[2J") for e in j["top_allocations_by_size"])
    # The undecodable byte of the file name is replaced, not passed on.
    rec = [x for x in memray.FileReader(out).get_high_watermark_allocation_records()
           if x.size == 123457][0]
    assert rec.stack_trace()[0][1] == "weird\ufffd\x1b]0;title\x07.py"


def test_outputs_never_follow_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    script = tmp_path / "p.py"
    script.write_text("x = bytearray(1000)\n")
    # A capture path that is a symlink to the victim: refused, with or without -f.
    link = tmp_path / "out.bin"
    link.symlink_to(victim)
    for flags in ([], ["-f"]):
        proc = subprocess.run([os.path.join(BIN, "memray"), "run", "-q", *flags, "-o", str(link),
                               str(script)], capture_output=True, text=True, env=child_env())
        assert proc.returncode != 0
        assert victim.read_text() == "precious"
    # A real capture, then a report path that is a symlink: refused without -f; with -f the
    # link itself is replaced, never written through.
    real = tmp_path / "real.bin"
    subprocess.run([os.path.join(BIN, "memray"), "run", "-q", "-o", str(real), str(script)],
                   check=True, env=child_env())
    html = tmp_path / "report.html"
    html.symlink_to(victim)
    r = subprocess.run([os.path.join(BIN, "memray-flamegraph"), "-o", str(html), str(real)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = subprocess.run([os.path.join(BIN, "memray-flamegraph"), "-f", "-o", str(html), str(real)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious"
    assert not html.is_symlink() and "<html" in html.read_text()


SHUTDOWN = r"""
import atexit, sys, ctypes
import memray

api = ctypes.pythonapi
api.PyMem_RawMalloc.restype = ctypes.c_void_p
api.PyMem_RawMalloc.argtypes = [ctypes.c_size_t]
api.PyMem_RawFree.argtypes = [ctypes.c_void_p]

class Holder:
    def __del__(self):
        # Runs at interpreter shutdown, after the Tracker below has been stopped at exit.
        api.PyMem_RawFree(api.PyMem_RawMalloc(4321))
        print("del ran", flush=True)

def at_exit():
    for _ in range(1000):
        bytearray(5000)
    print("atexit ran", flush=True)

atexit.register(at_exit)
HOLDER = Holder()
if len(sys.argv) > 1:
    tracker = memray.Tracker(sys.argv[1])
    tracker.__enter__()  # never exited by the program: the tracker stops itself at exit
KEEP = bytearray(222_222)
print("main done", flush=True)
"""


def test_allocations_in_atexit_and_del_during_shutdown(tmp_path):
    (tmp_path / "s.py").write_text(SHUTDOWN)
    out = tmp_path / "out.bin"
    bare = subprocess.run([sys.executable, "s.py", str(tmp_path / "bare.bin")], cwd=tmp_path,
                          capture_output=True, text=True, env=child_env(), timeout=60)
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout.splitlines() == ["main done", "atexit ran", "del ran"]
    # Under `memray run` (no Tracker of its own): the same output, a whole capture.
    proc = subprocess.run([os.path.join(BIN, "memray"), "run", "-q", "-o", str(out), "s.py"],
                          cwd=tmp_path, capture_output=True, text=True, env=child_env(),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == bare.stdout
    assert any(x.size == 222_223 for x in memray.FileReader(out).get_leaked_allocation_records())
    r = memray.FileReader(tmp_path / "bare.bin")
    assert any(x.size == 222_223 for x in r.get_leaked_allocation_records())
    stats = subprocess.run([os.path.join(BIN, "memray-stats"), "--json",
                            str(tmp_path / "bare.bin")], capture_output=True, text=True)
    assert stats.returncode == 0 and "cut short" not in stats.stderr


def test_every_tool_rejects_bad_input_with_one_line(tmp_path):
    good = tmp_path / "good.bin"
    script = tmp_path / "p.py"
    script.write_text("import time\nx = [bytearray(1000) for _ in range(2000)]\ntime.sleep(0.6)\n"
                      "y = [bytearray(3000) for _ in range(2000)]\n")
    subprocess.run([os.path.join(BIN, "memray"), "run", "-q", "--no-compress", "-o", str(good),
                    str(script)], check=True, env=child_env())
    data = good.read_bytes()
    inputs = {
        "missing.bin": None,
        "empty.bin": b"",
        "text.bin": b"just some text\n",
        "version.bin": data[:8] + b"\x09\x00" + data[10:],
        "header-cut.bin": data[:20],
    }
    for name, content in inputs.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    (tmp_path / "adir").mkdir()
    tools = [
        ["memray-stats"], ["memray-summary"], ["memray-tree"],
        ["memray-flamegraph", "-f", "-o", str(tmp_path / "o.html")],
        ["memray-table", "-f", "-o", str(tmp_path / "o.html")],
        ["memray-transform", "csv", "-o", "-"], ["memray-parse"],
    ]
    for tool in tools:
        for name in [*inputs, "adir"]:
            r = subprocess.run([os.path.join(BIN, tool[0]), *tool[1:], str(tmp_path / name)],
                               capture_output=True, text=True)
            assert r.returncode == 1, (tool, name, r.stderr)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and "panicked" not in r.stderr, (tool, name, r.stderr)
    # Cut inside its last chunk: reported up to the last complete chunk, with a warning.
    (tmp_path / "cut.bin").write_bytes(data[: len(data) - 100])
    for tool in tools[:6]:
        r = subprocess.run([os.path.join(BIN, tool[0]), *tool[1:], str(tmp_path / "cut.bin")],
                           capture_output=True, text=True)
        assert r.returncode == 0, (tool, r.stderr)
        assert "cut short" in r.stderr, (tool, r.stderr)
