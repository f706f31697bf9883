"""Command-line conventions every program keeps: an option it does not know is a usage error
(the usage line and exit status 2), never taken for a file name, whether the program is run as
``memray <cmd>``, ``python -m memray <cmd>`` or directly as ``memray-<cmd>``; and everything after
``memray run``'s script belongs to the script."""

import subprocess
import sys

import pytest

from conftest import BIN, PYTHON

# Each subcommand of `memray`, the program that implements it, and the arguments it needs
# besides the unknown option.
COMMANDS = {
    "run": (["memray-capture", "run"], ["prog.py"]),
    "stats": (["memray-stats"], ["out.bin"]),
    "flamegraph": (["memray-flamegraph"], ["out.bin"]),
    "table": (["memray-table"], ["out.bin"]),
    "tree": (["memray-tree"], ["out.bin"]),
    "summary": (["memray-summary"], ["out.bin"]),
    "parse": (["memray-parse"], ["out.bin"]),
    "transform": (["memray-transform"], ["gprof2dot", "out.bin"]),
    "live": (["memray-live"], ["12345"]),
}


def run(args, cwd):
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "prog.py").write_text("import sys\nprint(sys.argv[1:])\n")
    (tmp_path / "out.bin").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("launcher", ["memray", "python -m memray"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_option_is_a_usage_error_under_memray(command, launcher, workdir):
    prefix = [BIN / "memray"] if launcher == "memray" else [PYTHON, "-m", "memray"]
    rest = COMMANDS[command][1]
    for args in (["--bogus", *rest], [*rest[:-1], "--bogus", rest[-1]]):
        if command == "run" and args[0] != "--bogus":
            continue
        proc = run([*prefix, command, *args], workdir)
        lines = proc.stderr.splitlines()
        assert proc.returncode == 2, (args, proc.stderr)
        assert lines[0].startswith(f"usage: memray {command} "), lines
        assert lines[-1] == "memray: error: unrecognized arguments: --bogus", lines
        assert "No such file" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_option_is_a_usage_error_run_directly(command, workdir):
    program, rest = COMMANDS[command]
    proc = run([BIN / program[0], *program[1:], "--bogus", *rest], workdir)
    assert proc.returncode == 2, proc.stderr
    assert "unexpected argument '--bogus' found" in proc.stderr, proc.stderr
    # `memray-capture run` shows Memray's usage line for `memray run`.
    usage = "memray run" if command == "run" else program[0]
    assert f"Usage: {usage} " in proc.stderr, proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("program", ["memray", "memray-capture"])
def test_an_unknown_option_before_the_command_is_a_usage_error(program, workdir):
    proc = run([BIN / program, "--bogus", "run", "prog.py"], workdir)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.lower().startswith("usage: memray") or "Usage: memray" in proc.stderr
    assert "--bogus" in proc.stderr


def test_an_unknown_command_is_a_usage_error(workdir):
    proc = run([BIN / "memray", "bogus"], workdir)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: memray "), proc.stderr
    assert "bogus" in proc.stderr.splitlines()[-1]


@pytest.mark.parametrize("launcher", ["memray", "memray-capture"])
def test_options_after_the_script_belong_to_the_script(launcher, workdir):
    prefix = [BIN / "memray"] if launcher == "memray" else [BIN / "memray-capture"]
    proc = run([*prefix, "run", "-q", "-f", "-o", "o.bin", "prog.py", "--bogus", "-x", "y"], workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['--bogus', '-x', 'y']"
    module = run([*prefix, "run", "-q", "-f", "-o", "m.bin", "-m", "prog", "--bogus"], workdir)
    assert module.returncode == 0, module.stderr
    assert module.stdout.strip() == "['--bogus']"
    code = run([*prefix, "run", "-q", "-f", "-o", "c.bin", "-c",
                "import sys; print(sys.argv[1:])", "--bogus"], workdir)
    assert code.returncode == 0, code.stderr
    assert code.stdout.strip() == "['--bogus']"
