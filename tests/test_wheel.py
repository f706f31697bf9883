"""The wheel as a Python user installs it (``make test-wheel``, which builds ``dist/`` first):
``pip install dist/*.whl`` into a fresh virtualenv whose PATH has no Rust toolchain gives
``memray run``, every report, ``python -m memray``, the pytest plugin, the IPython magic, the
man pages and the shell completions; ``pip install .`` from the repository root and the sdist
build the same thing; ``cargo install --path tools`` installs the programs.

Skipped unless MEMRAY_TEST_WHEEL_DIR names the directory holding the wheel and the sdist."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST = os.environ.get("MEMRAY_TEST_WHEEL_DIR")
pytestmark = pytest.mark.skipif(not DIST, reason="`make test-wheel` runs these")

PROGRAMS = {
    "memray",
    "memray-capture",
    "memray-diff",
    "memray-flamegraph",
    "memray-live",
    "memray-parse",
    "memray-stats",
    "memray-summary",
    "memray-table",
    "memray-transform",
    "memray-tree",
}

# A program whose allocations are known: 3,000,000 bytes at `make`, line 2, still alive at the
# end, and 1,048,576 bytes from memray._test's native helper (called at `native`, line 6), freed.
SCRIPT = """\
def make():
    return bytearray(2_999_999)
def native():
    from memray._test import MemoryAllocator
    allocator = MemoryAllocator()
    allocator.valloc(1_048_576)
    allocator.free()
keep = make()
native()
"""


def one(pattern):
    (found,) = Path(DIST).glob(pattern)
    return found


def clean_path(venv):
    """A PATH with the virtualenv and the system's programs, and no cargo or rustc."""
    dirs = [str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]
    path = os.pathsep.join(dirs)
    for tool in ("cargo", "rustc", "maturin"):
        assert shutil.which(tool, path=path) is None, f"{tool} is on {path}"
    return path


def make_venv(path):
    # The base interpreter, not this virtualenv's: a fresh environment of its own.
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(path)], check=True)
    env = {
        "PATH": clean_path(path),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "VIRTUAL_ENV": str(path),
    }
    return env


def sh(env, *args, cwd=None, check=True):
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    if check:
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def pip_install(env, venv, *what):
    sh(env, venv / "bin" / "python", "-m", "pip", "install", "--quiet",
       "--disable-pip-version-check", *what)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtualenv with the wheel (and pytest and IPython, from the package index)."""
    venv = tmp_path_factory.mktemp("wheel") / "venv"
    env = make_venv(venv)
    pip_install(env, venv, one("*.whl"), "pytest>=7", "ipython>=8")
    return venv, env


def check_capture(venv, env, cwd):
    """`memray run` then `memray stats --json`, `memray-stats | json`, `memray flamegraph`."""
    (cwd / "prog.py").write_text(SCRIPT)
    sh(env, venv / "bin" / "memray", "run", "-q", "-o", "out.bin", "prog.py", cwd=cwd)
    sh(env, venv / "bin" / "memray", "stats", "--json", "-f", "-o", "stats.json", "out.bin",
       cwd=cwd)
    doc = json.loads((cwd / "stats.json").read_text())
    sizes = {e["location"]: e["size"] for e in doc["top_allocations_by_size"]}
    assert sizes["make:prog.py:2"] == 3_000_000, sizes
    # The innermost Python frame of the native helper's allocation: memray._test's valloc.
    valloc = [size for loc, size in sizes.items()
              if loc.startswith("valloc:") and "/site-packages/memray/_test.py:" in loc]
    assert valloc == [1_048_576], sizes
    piped = json.loads(sh(env, venv / "bin" / "memray-stats", "out.bin", cwd=cwd).stdout)
    assert piped["metadata"]["peak_memory"] == doc["metadata"]["peak_memory"]
    sh(env, venv / "bin" / "memray", "flamegraph", "-f", "-o", "flame.html", "out.bin", cwd=cwd)
    page = (cwd / "flame.html").read_text()
    assert "<html" in page.lower() and "make" in page


def test_the_wheel_holds_the_package_every_program_and_the_docs():
    names = zipfile.ZipFile(one("*.whl")).namelist()
    scripts = {Path(n).name for n in names if "/scripts/" in n}
    assert scripts == PROGRAMS, scripts
    assert any(n.startswith("memray/_memray.") and n.endswith(".so") for n in names), names
    assert any("/platlib/memray/_test_utils." in n for n in names), names
    assert not any("_test_utils." in n and n.endswith(".so") and "/platlib/" not in n
                   for n in names), names
    data = {n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n}
    for program in PROGRAMS:
        assert f"share/man/man1/{program}.1" in data
        assert f"share/bash-completion/completions/{program}" in data
        assert f"share/zsh/site-functions/_{program}" in data
        assert f"share/fish/vendor_completions.d/{program}.fish" in data
    assert "memray/_pytest_plugin.py" in names and "memray/py.typed" in names


def test_the_programs_run_without_a_rust_toolchain(installed, tmp_path):
    venv, env = installed
    check_capture(venv, env, tmp_path)
    for report in ("table", "tree", "summary"):
        args = ["-f", "-o", "r.html"] if report == "table" else []
        sh(env, venv / "bin" / "memray", report, *args, "out.bin", cwd=tmp_path)
    unknown = sh(env, venv / "bin" / "memray", "run", "--bogus", "prog.py", cwd=tmp_path,
                 check=False)
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines()[-1] == "memray: error: unrecognized arguments: --bogus"


def test_python_dash_m_memray(installed, tmp_path):
    venv, env = installed
    (tmp_path / "prog.py").write_text(SCRIPT)
    python = venv / "bin" / "python"
    sh(env, python, "-m", "memray", "run", "-q", "-o", "out.bin", "prog.py", cwd=tmp_path)
    out = sh(env, python, "-m", "memray", "summary", "out.bin", cwd=tmp_path).stdout
    assert "make" in out and "prog.py" in out


def test_the_pytest_plugin(installed, tmp_path):
    venv, env = installed
    (tmp_path / "test_big.py").write_text(
        "import pytest\n"
        "@pytest.mark.limit_memory('1 MB')\n"
        "def test_big():\n"
        "    data = bytearray(4_999_999)\n"
    )
    proc = sh(env, venv / "bin" / "python", "-m", "pytest", "--memray", "-p",
              "no:cacheprovider", "test_big.py", cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stdout
    assert "Test was limited to 1.0MiB but allocated 4.8MiB" in proc.stdout, proc.stdout
    assert "MEMRAY REPORT" in proc.stdout


def test_the_ipython_magic(installed, tmp_path):
    venv, env = installed
    driver = (
        "from IPython.terminal.interactiveshell import TerminalInteractiveShell\n"
        "shell = TerminalInteractiveShell.instance()\n"
        "shell.run_cell('%load_ext memray')\n"
        "result = shell.run_cell('%%memray_flamegraph\\nkeep = bytearray(2_000_000)\\n')\n"
        "assert result.success, result\n"
        "assert len(shell.user_ns['keep']) == 2_000_000\n"
    )
    (tmp_path / "driver.py").write_text(driver)
    out = sh(env, venv / "bin" / "python", "driver.py", cwd=tmp_path).stdout
    line = next(l for l in out.splitlines() if l.startswith("Results saved to "))
    assert (tmp_path / line.split(" ")[-1]).read_text().lower().count("<html") >= 1


def test_bash_completes_commands_and_options_from_the_environment(installed):
    venv, _ = installed
    completions = venv / "share" / "bash-completion" / "completions"
    script = (
        f"source {completions}/memray\n"
        "COMP_WORDS=(memray st); COMP_CWORD=1; _memray memray st memray\n"
        'echo "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(memray run --trace); COMP_CWORD=2; _memray memray --trace run\n"
        'echo "${COMPREPLY[@]}"\n'
        f"source {completions}/memray-stats\n"
        "complete -p memray-stats\n"
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["stats"], lines
    assert lines[1].split() == ["--trace-python-allocators"], lines
    assert lines[2].endswith(" memray-stats"), lines
    assert (venv / "share" / "man" / "man1" / "memray-stats.1").read_text().startswith(".ie")


def test_pip_install_from_the_repository_root(tmp_path):
    """`pip install .`: pip runs the build backend itself (isolated, maturin from the index)."""
    venv = tmp_path / "venv"
    env = make_venv(venv)
    build_env = dict(env, PATH=os.environ["PATH"], CARGO_TARGET_DIR=str(ROOT / "target"))
    sh(build_env, venv / "bin" / "python", "-m", "pip", "install", "--quiet",
       "--disable-pip-version-check", ROOT)
    check_capture(venv, env, tmp_path)


def test_the_sdist_builds_the_same_wheel(tmp_path):
    # Without build isolation: this virtualenv's maturin, which the backend runs from PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target"), PATH=path)
    sh(env, sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
       "--no-build-isolation", "-w", tmp_path, one("*.tar.gz"))
    (rebuilt,) = tmp_path.glob("*.whl")
    assert rebuilt.name == one("*.whl").name
    def contents(w):
        return sorted(n for n in zipfile.ZipFile(w).namelist() if "dist-info/RECORD" not in n)
    assert contents(rebuilt) == contents(one("*.whl"))


def test_cargo_install_installs_the_programs(tmp_path):
    env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target"))
    sh(env, "cargo", "install", "--quiet", "--locked", "--offline", "--path", ROOT / "tools",
       "--root", tmp_path)
    installed = {p.name for p in (tmp_path / "bin").iterdir()}
    assert installed == PROGRAMS, installed
    doc = sh(env, tmp_path / "bin" / "memray-stats", "--help").stdout
    assert "--json" in doc
