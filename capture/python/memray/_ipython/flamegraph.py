"""``%%memray_flamegraph [options]``: runs the cell under a ``Tracker``, turns the capture into
a flame graph with the ``memray-flamegraph`` program, and shows it inline.

The capture and the page go into ``memray-results/<random>/`` under the current directory (the
page stays there; the capture is removed once the page is made).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Callable, List, Optional, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class

# The cell runs as a cell of its own, inside the Tracker, so it sees and sets the user's
# variables as any cell does.
CELL = """\
from memray import Tracker as __memray_Tracker
with __memray_Tracker(
    {dump_file!r},
    native_traces={native},
    trace_python_allocators={python_allocators},
    follow_fork={follow_fork},
):
{code}
"""


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="%%memray_flamegraph")
    parser.add_argument("--native", action="store_true", default=False,
                        help="Track native (C/C++) stack frames as well")
    parser.add_argument("--follow-fork", action="store_true", default=False,
                        help="Record allocations in child processes forked from the tracked "
                             "script")
    parser.add_argument("--trace-python-allocators", action="store_true", default=False,
                        help="Record allocations made by the pymalloc allocator")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--leaks", action="store_true", dest="show_memory_leaks", default=False,
                      help="Show memory leaks, instead of peak memory usage")
    kind.add_argument("--temporary-allocation-threshold", metavar="N", type=int, default=-1,
                      dest="temporary_allocation_threshold",
                      help="Report temporary allocations, as opposed to leaked allocations or "
                           "high watermark allocations. An allocation is considered temporary "
                           "if at most N other allocations occur before it is deallocated. "
                           "With N=0, an allocation is temporary only if it is immediately "
                           "deallocated before any other allocation occurs.")
    kind.add_argument("--temporary-allocations", action="store_const", const=1,
                      dest="temporary_allocation_threshold",
                      help="Equivalent to --temporary-allocation-threshold=1")
    parser.add_argument("--temporal", action="store_true", default=False,
                        help="Generate a dynamic flame graph that can analyze allocations in a "
                             "user-selected time range.")
    parser.add_argument("--split-threads", action="store_true", default=False,
                        help="Do not merge allocations across threads")
    parser.add_argument("--inverted", action="store_true", default=False,
                        help="Invert the flame graph: use allocators as roots instead of "
                             "thread entry points")
    parser.add_argument("--max-memory-records", type=int, default=None,
                        help="Maximum number of memory records to display")
    return parser


def _program() -> Optional[str]:
    """The ``memray-flamegraph`` program, found as ``python -m memray`` finds programs."""
    from memray.__main__ import _find

    return _find("memray-flamegraph")


def flamegraph_command(
    program: str, options: argparse.Namespace, dump_file: Path, output: Path
) -> List[str]:
    """The ``memray-flamegraph`` command line for the magic's options."""
    cmd = [program]
    if options.show_memory_leaks:
        cmd.append("--leaks")
    if options.temporary_allocation_threshold >= 0:
        cmd.append(f"--temporary-allocation-threshold={options.temporary_allocation_threshold}")
    if options.temporal:
        cmd.append("--temporal")
    if options.split_threads:
        cmd.append("--split-threads")
    if options.inverted:
        cmd.append("--inverted")
    # --max-memory-records is accepted for compatibility: memray-flamegraph keeps every
    # memory sample, so there is nothing to pass on.
    cmd += ["-o", str(output), str(dump_file)]
    return cmd


# Typed here: older IPython releases (those 3.9 and 3.10 get) leave the decorator untyped.
_CellMethod = Callable[["FlamegraphMagics", str, str], None]
_cell_magic = cast(Callable[[_CellMethod], _CellMethod], cell_magic)


@magics_class
class FlamegraphMagics(Magics):
    @_cell_magic
    def memray_flamegraph(self, line: str, cell: str) -> None:
        """Memory profile the code in the cell and display a flame graph."""
        if self.shell is None:
            raise UsageError("Cannot profile code when not in a shell")
        try:
            options = argument_parser().parse_args(shlex.split(line))
        except SystemExit:
            return  # argparse printed why
        if options.temporal and options.temporary_allocation_threshold >= 0:
            raise UsageError("Can't create a temporal flame graph of temporary allocations")

        results = Path("memray-results")
        results.mkdir(exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(dir=results))
        if run_dir.is_absolute():
            run_dir = run_dir.relative_to(Path.cwd())
        dump_file = run_dir / "memray.dump"
        code = CELL.format(
            dump_file=str(dump_file),
            native=options.native,
            python_allocators=options.trace_python_allocators,
            follow_fork=options.follow_fork,
            code=textwrap.indent(cell, "    "),
        )
        shell: Any = self.shell
        shell.run_cell(code)
        if not dump_file.exists():
            return  # the Tracker could not start; IPython showed the error

        program = _program()
        if program is None:
            raise UsageError(
                "%%memray_flamegraph needs the memray-flamegraph program, which is not "
                f"installed; the capture is in {dump_file}"
            )
        output = run_dir / "flamegraph.html"
        proc = subprocess.run(flamegraph_command(program, options, dump_file, output),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0 or not output.exists():
            raise UsageError(
                f"memray-flamegraph failed (exit status {proc.returncode}): "
                f"{proc.stderr.strip()}; the capture is in {dump_file}"
            )
        dump_file.unlink()
        print(f"Results saved to {output}")
        from IPython.display import IFrame
        from IPython.display import display as _display

        display: Any = _display
        display(IFrame(str(output), width="100%", height="600"))


FlamegraphMagics.memray_flamegraph.__doc__ = (
    f"{FlamegraphMagics.memray_flamegraph.__doc__}\n\n{argument_parser().format_help()}"
)
