"""Python-side halves of the command-line programs, and ``main``: Memray's console entry point,
for code that calls ``memray.commands.main([...])`` as Memray's own tests and tools do."""

import sys


def main(args=None):
    """Runs ``memray ARGS`` (``sys.argv[1:]`` when None) and returns its exit status. Unlike
    ``python -m memray``, which becomes the program, this returns to the caller: the command
    runs as a child process writing to this process's standard output and error."""
    import os
    import subprocess

    from memray.__main__ import _resolve

    argv = list(sys.argv[1:] if args is None else args)
    resolved = _resolve(argv)
    if isinstance(resolved, int):
        return resolved
    path, program, rest = resolved
    env = dict(os.environ, MEMRAY_COMPAT="1", MEMRAY_PYTHON=sys.executable)
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.call([program, *rest], executable=path, env=env)
