"""``memray.SocketReader``: watches a program tracked with a ``SocketDestination`` (``memray run
--live-remote``) while it runs. The stream is read on a background thread by the Rust live
state (the same code ``memray-live`` shows); this is a thin wrapper over it."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Dict, Iterator, Optional, Type

from memray import _memray
from memray._reader import AllocationRecord


class SocketReader:
    """Reads the records a tracker streams to ``port`` on the loopback interface.

    Entering the context connects (waiting until the tracker listens) and starts reading;
    ``get_current_snapshot`` gives what is live at that moment. Leaving it disconnects: the
    tracked program stops tracking and goes on.
    """

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: Optional[_memray.LiveReader] = None
        self._header: Dict[str, Any] = {}
        self._open = False

    def __enter__(self) -> SocketReader:
        if self._open:
            raise ValueError(
                "Can not enter the context of a SocketReader object more than "
                "once, at the same time."
            )
        port = int(self._port)
        if not 0 < port < 2**16:
            raise OverflowError(f"port must be in 1..65535, not {port}")
        self._reader = _memray.LiveReader(port)
        self._header = self._reader.header()
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        exc_traceback: Optional[TracebackType],
    ) -> None:
        self._open = False
        if self._reader is not None:
            self._reader.close()

    def __del__(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close()

    @property
    def command_line(self) -> Optional[str]:
        if not self._header:
            return None
        command_line: str = self._header["command_line"]
        return command_line

    @property
    def pid(self) -> Optional[int]:
        if not self._header:
            return None
        pid: int = self._header["pid"]
        return pid

    @property
    def has_native_traces(self) -> bool:
        if not self._header:
            return False
        native: bool = self._header["native_traces"]
        return native

    @property
    def is_active(self) -> bool:
        if not self._open or self._reader is None:
            return False
        return self._reader.is_active()

    def get_current_snapshot(self, *, merge_threads: bool) -> Iterator[AllocationRecord]:
        """The allocations live now, one ``AllocationRecord`` per stack (and thread unless
        ``merge_threads``), in order of their first allocation."""
        reader = self._reader
        if not self._open or reader is None:
            return
        for t in reader.snapshot(bool(merge_threads)):
            yield AllocationRecord(t, reader)
