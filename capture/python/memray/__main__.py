"""``python -m memray <command> ...``: runs the ``memray-<command>`` program (``memray run`` is
``memray-capture run``), found beside this interpreter or on PATH, with this interpreter as the
one to profile with."""

from __future__ import annotations

import os
import shutil
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple, Union


def _find(program: str) -> Optional[str]:
    here = os.path.dirname(sys.executable)
    candidate = os.path.join(here, program)
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which(program)


def _resolve(argv: List[str]) -> Union[int, Tuple[str, str, List[str]]]:
    """(program path, program name, its arguments) for ``memray ARGV``, or the exit status when
    there is nothing to run."""
    if not argv:
        argv = ["--help"]
    command = argv[0]
    if command in ("-V", "--version"):
        from memray import __version__

        print(__version__)
        return 0
    if command.startswith("-"):
        program, rest = "memray", argv
    elif command == "run":
        program, rest = "memray-capture", argv
    else:
        program, rest = f"memray-{command}", argv[1:]
    path = _find(program)
    if path is None:
        print(f"memray: error: unknown command '{command}' ({program} not found)", file=sys.stderr)
        return 2
    return path, program, rest


def _program_env() -> Dict[str, str]:
    """The environment a program runs in: Memray's spellings, and this interpreter to profile
    with. Flushes this process's output first, so the program's comes after it."""
    sys.stdout.flush()
    sys.stderr.flush()
    return dict(os.environ, MEMRAY_COMPAT="1", MEMRAY_PYTHON=sys.executable)


def main(argv: Optional[List[str]] = None) -> int:
    resolved = _resolve(list(sys.argv[1:] if argv is None else argv))
    if isinstance(resolved, int):
        return resolved
    path, program, rest = resolved
    os.execve(path, [program, *rest], _program_env())


if __name__ == "__main__":
    sys.exit(main())
