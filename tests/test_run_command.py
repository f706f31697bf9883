"""``memray run``: how the program is started (-c, -m, script and arguments), what it sees
(sys.argv, sys.path[0]), what comes out (exit code, stdout, stderr, messages, output file)."""

import json
import os
import re
import subprocess

import pytest

from conftest import BIN, PYTHON, Capture, assert_ok, child_env, memray_run, run, write

HINT = (
    "[memray] Successfully generated profile results.\n\n"
    "You can now generate reports from the stored allocation records.\n"
    "Some example commands to generate reports:\n\n"
    "{exe} -m memray flamegraph {filename}\n"
)

REPORT = """
import json, os, sys
KEEP = []

def alloc():
    KEEP.append(bytearray(654_321))  # line 5

alloc()
print(json.dumps({"argv": sys.argv, "path0": sys.path[0], "name": __name__,
                  "pid": os.getpid(), "exe": sys.executable}))
"""


def report(proc):
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"no report line in\n{proc.stdout}\n{proc.stderr}")


def test_script_with_arguments(tmp_path):
    write(tmp_path / "prog.py", REPORT)
    proc = assert_ok(memray_run(["-q", "-o", "out.bin", "prog.py", "a", "-b", "--c=d", "-q"],
                                cwd=tmp_path))
    rep = report(proc)
    assert rep["argv"] == ["prog.py", "a", "-b", "--c=d", "-q"]
    assert rep["path0"] == str(tmp_path.resolve())
    assert rep["name"] == "__main__"
    cap = Capture(tmp_path / "out.bin")
    assert cap.metadata.pid == rep["pid"]
    (rec,) = cap.sized(cap.allocs, 654_322)
    assert cap.leaf(rec) == ("alloc", "prog.py", 5)
    assert cap.metadata.command_line.split(" ", 1)[1] == "run -q -o out.bin prog.py a -b --c=d -q"


def test_script_in_a_subdirectory_default_output_name(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "prog.py", REPORT)
    proc = assert_ok(memray_run(["sub/prog.py", "x"], cwd=tmp_path))
    rep = report(proc)
    filename = f"sub/memray-prog.py.{rep['pid']}.bin"
    assert rep["argv"] == ["sub/prog.py", "x"]
    assert rep["path0"] == str((tmp_path / "sub").resolve())
    assert (tmp_path / filename).is_file()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".bin"] == []
    # Exact stdout: our banner, the program's output, the closing hint.
    program_line = proc.stdout.splitlines()[1] + "\n"
    assert proc.stdout == (
        f"Writing profile results into {filename}\n" + program_line
        + HINT.format(exe=rep["exe"], filename=filename)
    )
    assert proc.stderr == ""
    cap = Capture(tmp_path / filename)
    (rec,) = cap.sized(cap.allocs, 654_322)
    assert cap.leaf(rec) == ("alloc", "prog.py", 5)
    assert cap.stack(rec)[0][1] == "sub/prog.py"


def test_the_interpreter_is_the_virtualenvs(tmp_path):
    write(tmp_path / "prog.py", REPORT)
    rep = report(assert_ok(memray_run(["-q", "-o", "out.bin", "prog.py"], cwd=tmp_path)))
    assert os.path.dirname(rep["exe"]) == str(BIN)


def test_dash_c(tmp_path):
    code = ("import sys, json; KEEP = [bytearray(765_432)]; "
            "print(json.dumps({'argv': sys.argv, 'path0': sys.path[0], 'name': __name__}))")
    proc = assert_ok(memray_run(["-q", "-o", "out.bin", "-c", code, "x", "-y"], cwd=tmp_path))
    assert json.loads(proc.stdout) == {"argv": ["-c", "x", "-y"], "path0": "", "name": "__main__"}
    cap = Capture(tmp_path / "out.bin")
    (rec,) = cap.sized(cap.allocs, 765_433)
    assert cap.leaf(rec) == ("<module>", "<string>", 1)


def test_dash_c_default_output_name(tmp_path):
    proc = assert_ok(memray_run(["-c", "import os; print(os.getpid())"], cwd=tmp_path))
    pid = int(proc.stdout.splitlines()[1])
    filename = f"memray-string.{pid}.bin"
    assert proc.stdout.splitlines()[0] == f"Writing profile results into {filename}"
    assert (tmp_path / filename).is_file()
    Capture(tmp_path / filename)


MODULE = """
import json, os, sys
KEEP = []

def alloc():
    KEEP.append(bytearray(543_210))  # line 5

alloc()
if __name__ == "__main__":
    print(json.dumps({"argv": sys.argv, "path0": sys.path[0], "pid": os.getpid()}))
"""


def test_dash_m(tmp_path):
    write(tmp_path / "mymod.py", MODULE)
    proc = assert_ok(memray_run(["-m", "mymod", "a", "--flag"], cwd=tmp_path))
    rep = report(proc)
    assert rep["argv"] == [str(tmp_path / "mymod.py"), "a", "--flag"]
    assert rep["path0"] == str(tmp_path)
    filename = f"memray-mymod.{rep['pid']}.bin"
    assert proc.stdout.splitlines()[0] == f"Writing profile results into {filename}"
    cap = Capture(tmp_path / filename)
    (rec,) = cap.sized(cap.allocs, 543_211)
    assert cap.leaf(rec) == ("alloc", "mymod.py", 5)
    stack = cap.stack(rec)
    assert stack[1][0] == "<module>"
    assert "_run_module_as_main" in [f[0] for f in stack] or "run_module" in [f[0] for f in stack]


def test_dash_m_package_main(tmp_path):
    (tmp_path / "pkg").mkdir()
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "__main__.py", "import sys\nprint(sys.argv[1:])\n")
    proc = assert_ok(memray_run(["-q", "-o", "out.bin", "-m", "pkg", "1", "2"], cwd=tmp_path))
    assert proc.stdout == "['1', '2']\n"


def test_dash_m_missing_module(tmp_path):
    proc = memray_run(["-q", "-o", "out.bin", "-m", "nosuchmod_xyz"], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == "memray: No module named nosuchmod_xyz\n"
    assert proc.stdout == ""


def test_python_dash_m_memray_run(tmp_path):
    write(tmp_path / "prog.py", REPORT)
    proc = subprocess.run([PYTHON, "-m", "memray", "run", "-q", "-o", "out.bin", "prog.py", "z"],
                          cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                          timeout=60)
    assert_ok(proc)
    assert report(proc)["argv"] == ["prog.py", "z"]
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 654_322)) == 1


@pytest.mark.parametrize("code, status", [("sys.exit(3)", 3), ("sys.exit(0)", 0),
                                          ("sys.exit('bye')", 1), ("pass", 0)])
def test_exit_code(tmp_path, code, status):
    write(tmp_path / "prog.py", f"import sys\nKEEP = bytearray(432_100)\n{code}\n")
    proc = memray_run(["-q", "-o", "out.bin", "prog.py"], cwd=tmp_path)
    assert proc.returncode == status, proc.stderr
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 432_101)) == 1


def test_uncaught_exception(tmp_path):
    write(tmp_path / "prog.py", """
        KEEP = bytearray(321_000)
        def fail():
            raise ValueError("boom")
        fail()
    """)
    proc = memray_run(["-o", "out.bin", "prog.py"], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Traceback (most recent call last):\n")
    # The program's frames read exactly as the bare interpreter prints them (carets included,
    # which differ between versions).
    bare = run([PYTHON, "prog.py"], cwd=tmp_path).stderr.replace(str(tmp_path / "prog.py"), "prog.py")
    program_frames = bare[bare.index('  File "prog.py", line 4, in <module>\n'):]
    assert program_frames.endswith('    raise ValueError("boom")\nValueError: boom\n')
    assert proc.stderr.endswith(program_frames), (proc.stderr, program_frames)
    # The closing hint is still printed.
    assert "[memray] Successfully generated profile results." in proc.stdout
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 321_001)) == 1


def test_stdout_and_stderr_preserved_and_quiet(tmp_path):
    write(tmp_path / "prog.py", """
        import sys
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.stdout.write("no newline")
    """)
    proc = assert_ok(memray_run(["-q", "-o", "out.bin", "prog.py"], cwd=tmp_path))
    assert proc.stdout == "to stdout\nno newline"
    assert proc.stderr == "to stderr\n"


def test_stdin_is_the_programs(tmp_path):
    write(tmp_path / "prog.py", "import sys\nprint(sys.stdin.read().upper())\n")
    proc = subprocess.run([str(BIN / "memray"), "run", "-q", "-o", "out.bin", "prog.py"],
                          cwd=tmp_path, env=child_env(), input="hello", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "HELLO\n"


def test_messages_without_quiet(tmp_path):
    write(tmp_path / "prog.py", "print('hi')\n")
    proc = assert_ok(memray_run(["-o", "out.bin", "prog.py"], cwd=tmp_path))
    exe = re.search(r"^(\S+) -m memray flamegraph out\.bin$", proc.stdout, re.M).group(1)
    assert os.path.dirname(exe) == str(BIN)
    assert proc.stdout == "Writing profile results into out.bin\nhi\n" + \
        HINT.format(exe=exe, filename="out.bin")
    assert proc.stderr == ""


def test_refuses_to_overwrite(tmp_path):
    write(tmp_path / "prog.py", "print('ran')\n")
    (tmp_path / "out.bin").write_bytes(b"precious")
    proc = memray_run(["-o", "out.bin", "prog.py"], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == (
        "Output file out.bin already exists. Memray can overwrite it with the --force CLI "
        "argument or the overwrite=True API argument.\n"
    )
    assert "ran" not in proc.stdout
    assert (tmp_path / "out.bin").read_bytes() == b"precious"


def test_force_overwrites(tmp_path):
    write(tmp_path / "prog.py", "KEEP = bytearray(222_000)\nprint('ran')\n")
    (tmp_path / "out.bin").write_bytes(b"old junk" * 1000)
    proc = assert_ok(memray_run(["-f", "-q", "-o", "out.bin", "prog.py"], cwd=tmp_path))
    assert proc.stdout == "ran\n"
    cap = Capture(tmp_path / "out.bin")
    assert len(cap.sized(cap.allocs, 222_001)) == 1


def test_missing_script(tmp_path):
    proc = memray_run(["nonexist.py"], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == "[Errno 2] No such file or directory: 'nonexist.py'\n"
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_not_a_python_file(tmp_path):
    (tmp_path / "data.txt").write_text("this is ( not python\n")
    proc = memray_run(["data.txt"], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == "Only valid Python files or commands can be executed under memray\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_invalid_dash_c(tmp_path):
    proc = memray_run(["-c", "def ("], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == "Only valid Python files or commands can be executed under memray\n"


def test_output_in_missing_directory(tmp_path):
    write(tmp_path / "prog.py", "print('ran')\n")
    proc = memray_run(["-q", "-o", "nodir/out.bin", "prog.py"], cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == "Could not create output file nodir/out.bin: No such file or directory\n"
    assert proc.stdout == ""


def test_no_compress_and_default_are_both_readable(tmp_path):
    write(tmp_path / "prog.py", "KEEP = bytearray(111_000)\n")
    assert_ok(memray_run(["-q", "--no-compress", "-o", "a.bin", "prog.py"], cwd=tmp_path))
    assert_ok(memray_run(["-q", "-o", "b.bin", "prog.py"], cwd=tmp_path))
    for name in ("a.bin", "b.bin"):
        cap = Capture(tmp_path / name)
        assert len(cap.sized(cap.allocs, 111_001)) == 1, name
