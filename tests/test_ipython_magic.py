"""``%load_ext memray`` and ``%%memray_flamegraph`` in a real IPython shell (run in a child
process): the cell runs under a Tracker in the user's namespace, ``memray-flamegraph`` turns the
capture into a page, and the page is displayed inline."""

import json
import textwrap

import pytest

from conftest import run_python, write

pytest.importorskip("IPython")

DRIVER = '''
import json, sys
from IPython.terminal.interactiveshell import TerminalInteractiveShell
from IPython.utils.capture import capture_output

shell = TerminalInteractiveShell.instance()
shell.display_formatter.active_types = ["text/plain", "text/html"]
shell.run_cell("%load_ext memray")

def cell(source):
    with capture_output() as cap:
        result = shell.run_cell(source)
    error = result.error_in_exec or result.error_before_exec
    return {
        "error": f"{type(error).__name__}: {error}" if error else None,
        "stdout": cap.stdout,
        "html": [o.data.get("text/html", "") for o in cap.outputs],
    }
'''


def run_driver(tmp_path, body):
    script = write(tmp_path / "driver.py", DRIVER + textwrap.dedent(body))
    proc = run_python(script)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_flamegraph_magic_profiles_the_cell_and_displays_the_page(tmp_path):
    results = run_driver(tmp_path, '''
        out = cell("%%memray_flamegraph\\ndef make():\\n    return bytearray(3_000_000)\\n"
                   "keep = make()\\ny = 5\\n")
        out["y"] = shell.user_ns["y"]
        out["keep"] = len(shell.user_ns["keep"])
        print(json.dumps(out))
    ''')
    (out,) = results
    assert out["error"] is None
    assert (out["y"], out["keep"]) == (5, 3_000_000)
    line = out["stdout"].strip()
    assert line.startswith("Results saved to memray-results/") and line.endswith(
        "/flamegraph.html")
    page = tmp_path / line.split(" ")[-1]
    html = page.read_text()
    assert "<html" in html.lower() and "make" in html
    # The capture is removed once the page is made; the page is shown in an iframe.
    assert list(page.parent.iterdir()) == [page]
    (shown,) = out["html"]
    assert "<iframe" in shown and f'src="{line.split(" ")[-1]}"' in shown


@pytest.mark.parametrize("options, expected", [
    ("--leaks", ["--leaks"]),
    ("--temporary-allocation-threshold 3 --split-threads", [
        "--temporary-allocation-threshold=3", "--split-threads"]),
    ("--temporary-allocations --inverted", ["--temporary-allocation-threshold=1", "--inverted"]),
    ("--temporal --trace-python-allocators", ["--temporal"]),
])
def test_options_reach_the_report(tmp_path, options, expected):
    """Each report option is passed to memray-flamegraph (a stand-in records its command
    line and checks the capture it was given)."""
    stub = write(tmp_path / "stub.py", """
        import json, sys
        import memray
        args = sys.argv[1:]
        out, dump = args[args.index("-o") + 1], args[-1]
        with memray.FileReader(dump) as reader:
            meta = reader.metadata
            sizes = [r.size for r in reader.get_allocation_records()]
        with open(out, "w") as f:
            f.write("<html></html>")
        with open("stub.json", "w") as f:
            json.dump({"args": args[:args.index("-o")],
                       "python_allocators": meta.trace_python_allocators,
                       "allocated": 1_234_567 in sizes}, f)
    """)
    results = run_driver(tmp_path, f'''
        import memray._ipython.flamegraph as fg
        fg._program = lambda: {str(stub)!r}
        import subprocess
        real_run = subprocess.run
        fg.subprocess.run = lambda cmd, **kw: real_run([sys.executable, *cmd], **kw)
        out = cell("%%memray_flamegraph {options}\\nx = bytearray(1_234_566)\\n")
        print(json.dumps(out))
    ''')
    (out,) = results
    assert out["error"] is None, out
    recorded = json.loads((tmp_path / "stub.json").read_text())
    assert recorded["args"] == expected
    assert recorded["allocated"] is True  # the cell's bytearray (n + 1 bytes)
    assert recorded["python_allocators"] == ("--trace-python-allocators" in options)


def test_bad_options_and_missing_program(tmp_path):
    results = run_driver(tmp_path, '''
        print(json.dumps(cell("%%memray_flamegraph --temporal --temporary-allocations\\nx = 1\\n")))
        print(json.dumps(cell("%%memray_flamegraph --no-such-option\\nx = 1\\n")))
        import memray._ipython.flamegraph as fg
        fg._program = lambda: None
        out = cell("%%memray_flamegraph\\nz = bytearray(10_000)\\n")
        out["z"] = len(shell.user_ns["z"])
        print(json.dumps(out))
    ''')
    temporal, bad, missing = results
    assert temporal["error"] == (
        "UsageError: Can't create a temporal flame graph of temporary allocations")
    assert bad["error"] is None and bad["html"] == []
    assert missing["z"] == 10_000
    assert missing["error"].startswith(
        "UsageError: %%memray_flamegraph needs the memray-flamegraph program, which is not "
        "installed; the capture is in memray-results/")
    dump = tmp_path / missing["error"].rsplit(" ", 1)[-1]
    assert dump.exists()
