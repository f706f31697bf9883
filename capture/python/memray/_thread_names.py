"""Follows ``threading`` thread names while tracking: data descriptors on ``Thread._name`` and
``Thread._ident`` report a thread's name as soon as both are known (at start, or on rename)."""

import threading

from memray import _memray

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


class _Field:
    def __init__(self, field: str, other: str) -> None:
        self.field = field
        self.other = other

    def __get__(self, obj: "Optional[threading.Thread]", objtype: "Optional[type]" = None) -> "Any":
        if obj is None:
            return self
        try:
            return obj.__dict__[self.field]
        except KeyError:
            raise AttributeError(self.field) from None

    def __set__(self, obj: "threading.Thread", value: "Any") -> None:
        obj.__dict__[self.field] = value
        values = {self.field: value, self.other: obj.__dict__.get(self.other)}
        ident, name = values["_ident"], values["_name"]
        if ident is not None and name is not None:
            _memray.register_thread_name(ident, str(name))

    def __delete__(self, obj: "threading.Thread") -> None:
        del obj.__dict__[self.field]


def install() -> None:
    """Puts the descriptors on ``threading.Thread``. Called before tracking starts, as Memray
    does: changing the class may grow its dict, which must not show up in the capture."""
    setattr(threading.Thread, "_name", _Field("_name", "_ident"))
    setattr(threading.Thread, "_ident", _Field("_ident", "_name"))


def register_running() -> None:
    """Names the threads already running (once tracking has started)."""
    for thread in threading.enumerate():
        ident = thread.__dict__.get("_ident")
        if ident is not None:
            _memray.register_thread_name(ident, str(thread.__dict__.get("_name", "")))


def uninstall() -> None:
    for field in ("_name", "_ident"):
        if isinstance(threading.Thread.__dict__.get(field), _Field):
            delattr(threading.Thread, field)
