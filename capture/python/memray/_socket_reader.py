"""``memray.SocketReader``: watches a program tracked with a ``SocketDestination`` (``memray run
--live-remote``) while it runs. The stream is read on a background thread by the Rust live
state (the same code ``memray-live`` shows); this is a thin wrapper over it."""

from memray import _memray
from memray._reader import AllocationRecord


class SocketReader:
    """Reads the records a tracker streams to ``port`` on the loopback interface.

    Entering the context connects (waiting until the tracker listens) and starts reading;
    ``get_current_snapshot`` gives what is live at that moment. Leaving it disconnects: the
    tracked program stops tracking and goes on.
    """

    def __init__(self, port: int):
        self._port = port
        self._reader = None
        self._header = {}
        self._open = False

    def __enter__(self):
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

    def __exit__(self, exc_type, exc_value, exc_traceback):
        self._open = False
        if self._reader is not None:
            self._reader.close()

    def __del__(self):
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close()

    @property
    def command_line(self):
        if not self._header:
            return None
        return self._header["command_line"]

    @property
    def pid(self):
        if not self._header:
            return None
        return self._header["pid"]

    @property
    def has_native_traces(self):
        if not self._header:
            return False
        return self._header["native_traces"]

    @property
    def is_active(self):
        if not self._open:
            return False
        return self._reader.is_active()

    def get_current_snapshot(self, *, merge_threads):
        """The allocations live now, one ``AllocationRecord`` per stack (and thread unless
        ``merge_threads``), in order of their first allocation."""
        if not self._open:
            return
        reader = self._reader
        for t in reader.snapshot(bool(merge_threads)):
            yield AllocationRecord(t, reader)
