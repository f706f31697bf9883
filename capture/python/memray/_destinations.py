"""Where a Tracker sends its records: a file, or a socket for live mode."""


class Destination:
    __slots__ = ()

    def _fields(self):
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other):
        return type(self) is type(other) and self._fields() == other._fields()

    def __hash__(self):
        return hash((type(self), self._fields()))

    def __repr__(self):
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({args})"


class FileDestination(Destination):
    """Write the capture to ``path``; refuse an existing file unless ``overwrite``."""

    __slots__ = ("path", "overwrite", "compress_on_exit")

    def __init__(self, path, overwrite=False, compress_on_exit=True):
        self.path = path
        self.overwrite = overwrite
        self.compress_on_exit = compress_on_exit


class SocketDestination(Destination):
    """Stream the capture to one client connecting to ``address:server_port``."""

    __slots__ = ("server_port", "address")

    def __init__(self, server_port, address="127.0.0.1"):
        self.server_port = server_port
        self.address = address
