"""Python-side halves of the command-line programs, and ``main``: Memray's console entry point,
for code that calls ``memray.commands.main([...])`` as Memray's own tests and tools do."""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


def main(args: "Optional[List[str]]" = None) -> int:
    """Runs ``memray ARGS`` (``sys.argv[1:]`` when None) and returns its exit status. Unlike
    ``python -m memray``, which becomes the program, this returns to the caller: the command
    runs as a child process writing to this process's standard output and error."""
    import subprocess

    from memray.__main__ import _program_env, _resolve

    resolved = _resolve(list(sys.argv[1:] if args is None else args))
    if isinstance(resolved, int):
        return resolved
    path, program, rest = resolved
    return subprocess.call([program, *rest], executable=path, env=_program_env())


__all__ = ["main"]
