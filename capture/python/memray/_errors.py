"""The exceptions of Memray's command-line layer, with Memray's names."""

from __future__ import annotations


class MemrayError(Exception):
    """An error this package reports to the user (one line, no traceback)."""


class MemrayCommandError(MemrayError):
    """An error of a ``memray`` command; ``exit_code`` is the status the command exits with."""

    def __init__(self, *args: object, exit_code: int) -> None:
        super().__init__(*args)
        self.exit_code = exit_code
