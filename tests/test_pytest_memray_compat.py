"""The real pytest-memray plugin (from PyPI) on top of this package's ``memray``.

A separate virtualenv gets ``pip install --no-deps pytest-memray`` and sees this test
environment's packages (our ``memray``, pytest, pytest-xdist) through a ``.pth`` file. With
pytest-memray installed, our own plugin must stand aside: no duplicate options, and
pytest-memray's markers and report work unchanged.
"""

import os
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from conftest import child_env

TESTS = """
import pytest
from memray._test import MemoryAllocator
allocator = MemoryAllocator()

def helper(size):
    allocator.valloc(size)
    allocator.free()

@pytest.mark.limit_memory("2KB")
def test_under_the_limit():
    helper(2047)

@pytest.mark.limit_memory("2KB")
def test_at_the_limit():
    helper(2048)

@pytest.mark.limit_memory("24 MB")
def test_well_under():
    helper(1024 * 1024)
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    d = tmp_path_factory.mktemp("pytest-memray-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(d)], check=True)
    python = d / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    with open(os.path.join(site_packages, "memray-under-test.pth"), "w") as f:
        f.write(f"import site; site.addsitedir({ours!r})\n")
    proc = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "pytest-memray"],
        capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"could not install pytest-memray from the package index: {proc.stderr}")
    return python


def run_pytest(python, directory, *args):
    return subprocess.run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=directory, env=child_env(), capture_output=True, text=True, timeout=300)


def test_pytest_memray_limit_memory_on_our_memray(venv, tmp_path):
    (tmp_path / "test_limits.py").write_text(textwrap.dedent(TESTS))
    proc = run_pytest(venv, tmp_path, "--memray", "--stacks=4")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "plugins: memray-1." in out  # pytest-memray's own version
    assert "test_limits.py .M." in out
    assert "Test was limited to 2.0KiB but allocated 2.0KiB" in out
    # The plugin that ran is pytest-memray's: its wrapper is the outermost frame kept.
    assert "wrapper:" in out and "pytest_memray/plugin.py" in out
    assert "/memray/_pytest_plugin.py" not in out
    assert "MEMORY PROBLEMS test_limits.py::test_at_the_limit" in out
    assert "= MEMRAY REPORT =" in out
    assert "Allocation results for test_limits.py::test_well_under at the high watermark" in out
    assert "\t 📦 Total memory allocated: 1.0MiB" in out


def test_pytest_memray_passes_and_works_without_the_flag(venv, tmp_path):
    (tmp_path / "test_limits.py").write_text(textwrap.dedent(TESTS))
    proc = run_pytest(venv, tmp_path, "-k", "under")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_pytest(venv, tmp_path, "-k", "at_the_limit")
    assert proc.returncode == 1 and "1 failed" in proc.stdout


def test_pytest_memray_with_xdist(venv, tmp_path):
    (tmp_path / "test_limits.py").write_text(textwrap.dedent(TESTS))
    proc = run_pytest(venv, tmp_path, "--memray", "-n", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout and "1 failed" in proc.stdout
    assert "MEMRAY REPORT" in proc.stdout


def test_only_one_set_of_options(venv, tmp_path):
    proc = run_pytest(venv, tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("  --memray-bin-path") == 1
    assert proc.stdout.count("  --fail-on-increase") == 1
