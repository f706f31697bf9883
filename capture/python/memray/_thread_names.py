"""Follows ``threading`` thread names while tracking: data descriptors on ``Thread._name`` and
``Thread._ident`` report a thread's name as soon as both are known (at start, or on rename)."""

import threading

from memray import _memray


class _Field:
    def __init__(self, field, other):
        self.field = field
        self.other = other

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        try:
            return obj.__dict__[self.field]
        except KeyError:
            raise AttributeError(self.field) from None

    def __set__(self, obj, value):
        obj.__dict__[self.field] = value
        values = {self.field: value, self.other: obj.__dict__.get(self.other)}
        ident, name = values["_ident"], values["_name"]
        if ident is not None and name is not None:
            _memray.register_thread_name(ident, str(name))

    def __delete__(self, obj):
        del obj.__dict__[self.field]


def install():
    """Puts the descriptors on ``threading.Thread``. Called before tracking starts, as Memray
    does: changing the class may grow its dict, which must not show up in the capture."""
    threading.Thread._name = _Field("_name", "_ident")
    threading.Thread._ident = _Field("_ident", "_name")


def register_running():
    """Names the threads already running (once tracking has started)."""
    for thread in threading.enumerate():
        ident = thread.__dict__.get("_ident")
        if ident is not None:
            _memray.register_thread_name(ident, str(thread.__dict__.get("_name", "")))


def uninstall():
    for field in ("_name", "_ident"):
        if isinstance(threading.Thread.__dict__.get(field), _Field):
            delattr(threading.Thread, field)
