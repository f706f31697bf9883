"""The interpreter-version seam, seen from outside: the running version is recorded, and an
interpreter outside the supported families gets one clear ImportError, never a crash."""

import platform
import subprocess
import sys

import memray

from conftest import PYTHON, child_env, program, run, write


def test_capture_records_the_running_version(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray
        with memray.Tracker(sys.argv[1]):
            keep = bytearray(123_000)
    """)
    subprocess.run([PYTHON, str(script), str(tmp_path / "out.bin")], check=True, env=child_env())
    proc = run([program("memray-parse"), tmp_path / "out.bin"])
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert f" python_version={platform.python_version()} " in header, header


def test_unsupported_version_is_one_clear_import_error():
    probe = (
        "import sys\n"
        "sys.version_info = (3, 14, 0, 'final', 0)\n"
        "try:\n"
        "    import memray\n"
        "except ImportError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    print('imported')\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=child_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "memray supports CPython 3.9 to 3.13; this is cpython 3.14\n"


def test_this_version_is_supported():
    assert (3, 9) <= sys.version_info[:2] <= (3, 13)
    assert memray.Tracker is not None
