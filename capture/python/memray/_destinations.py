"""Where a Tracker sends its records: a file, or a socket for live mode."""

import os
from dataclasses import dataclass
from typing import Union


class Destination:
    pass


@dataclass(frozen=True)
class FileDestination(Destination):
    """Write the capture to ``path``; refuse an existing file unless ``overwrite``."""

    path: Union[str, "os.PathLike[str]"]
    overwrite: bool = False
    compress_on_exit: bool = True


@dataclass(frozen=True)
class SocketDestination(Destination):
    """Stream the capture to one client connecting to ``address:server_port``."""

    server_port: int
    address: str = "127.0.0.1"
