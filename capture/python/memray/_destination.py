"""Where a ``Tracker`` sends its records: a file, or a socket for live mode.

The classes behave as Memray's frozen dataclasses do (keyword or positional fields, equality,
hashing, a dataclass-style ``repr``, and ``dataclasses.FrozenInstanceError`` on assignment),
without importing :mod:`dataclasses`, which would slow down the start of ``memray run``.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from typing import Any, ClassVar, NoReturn, Tuple, Union

    PathLike = Union[str, "os.PathLike[str]"]


def _frozen(obj: object, name: str) -> "NoReturn":
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot assign to field {name!r}")


class Destination:
    """The base class of the places a ``Tracker`` can write to."""

    __slots__: "ClassVar[Tuple[str, ...]]" = ()

    def _fields(self) -> "Tuple[Any, ...]":
        return tuple(getattr(self, f) for f in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        _frozen(self, name)

    def __delattr__(self, name: str) -> None:
        _frozen(self, name)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, Destination)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({args})"


class FileDestination(Destination):
    """Write the capture to the file ``path``.

    ``overwrite``: replace an existing file instead of refusing to start. ``compress_on_exit``:
    store the finished capture compressed (the default). ``buffered``: accepted for Memray's
    interface; the capture is written the same way either way.
    """

    __slots__ = ("path", "overwrite", "compress_on_exit", "buffered")
    __match_args__ = ("path", "overwrite", "compress_on_exit", "buffered")

    path: "PathLike"
    overwrite: bool
    compress_on_exit: bool
    buffered: bool

    def __init__(
        self,
        path: "PathLike",
        overwrite: bool = False,
        compress_on_exit: bool = True,
        buffered: bool = False,
    ) -> None:
        init = object.__setattr__
        init(self, "path", path)
        init(self, "overwrite", overwrite)
        init(self, "compress_on_exit", compress_on_exit)
        init(self, "buffered", buffered)


class SocketDestination(Destination):
    """Serve the capture to one reader (``memray live``, ``SocketReader``) connecting to
    ``address:server_port``; the ``Tracker`` waits for it before tracking starts."""

    __slots__ = ("server_port", "address")
    __match_args__ = ("server_port", "address")

    server_port: int
    address: str

    def __init__(self, server_port: int, address: str = "127.0.0.1") -> None:
        init = object.__setattr__
        init(self, "server_port", server_port)
        init(self, "address", address)
