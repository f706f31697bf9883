"""``memray.Tracker``: records every allocation made while the ``with`` block runs."""

import atexit
import os
import sys

from memray import _memray, _thread_names
from memray._destination import Destination, FileDestination, SocketDestination

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType, TracebackType
    from typing import Any, Callable, List, Literal, Optional, Tuple, Type, Union

    from memray._destination import PathLike
    from memray._enums import FileFormat

# FileFormat.ALL_ALLOCATIONS (an IntEnum, equal to 0), without importing enum to start tracking.
ALL_ALLOCATIONS: "FileFormat" = 0  # type: ignore[assignment]

_fork_hook_registered = False
_exit_hook_registered = False
_active_tracker: "Optional[Tracker]" = None


def _stop_at_exit() -> None:
    """A Tracker still active when the interpreter exits is stopped, so its capture is whole."""
    tracker = _active_tracker
    if tracker is not None:
        tracker.__exit__(None, None, None)


def _after_fork_in_child() -> None:
    global _active_tracker
    path = _memray.follow_fork_in_child()
    if path is None:
        if _active_tracker is not None and _active_tracker.track_object_lifetimes:
            _memray.stop_object_lifetimes()
        _active_tracker = None


def _python_paths() -> "Tuple[str, List[str], List[str]]":
    import site
    import sysconfig

    stdlib = os.path.realpath(sysconfig.get_path("stdlib"))
    site_packages = list(site.getsitepackages())
    user_site = site.getusersitepackages()
    if user_site and os.path.exists(user_site):
        site_packages.append(user_site)
    site_packages = [os.path.abspath(p) for p in site_packages]
    sys_path = [os.path.abspath(p) for p in sys.path if p]
    return stdlib, site_packages, sys_path


def start_thread_trace(frame: "FrameType", event: str, arg: "Any") -> "Callable[..., Any]":
    """Memray's profile function for new threads (``threading.setprofile``). This tracker
    reads every thread's frames directly, so there is nothing to install: it returns itself
    and changes nothing."""
    return start_thread_trace


class Tracker:
    """Context manager that tracks every allocation of the process into a capture.

    Exactly one of ``file_name`` and ``destination`` must be given. ``native_traces`` records
    native stacks too; ``trace_python_allocators`` records every allocation of Python's own
    allocators; ``follow_fork`` keeps tracking in forked children (each into its own file);
    ``memory_interval_ms`` is how often the resident set size is sampled; ``file_format``
    chooses between every event (``FileFormat.ALL_ALLOCATIONS``) and totals per location
    (``FileFormat.AGGREGATED_ALLOCATIONS``); ``track_object_lifetimes`` (CPython 3.13.3 and
    later) remembers the objects created while tracking, for ``get_surviving_objects``.
    ``sample_every`` (bytes) records a sample of the allocations instead of every one: each
    allocation of ``s`` bytes with probability ``1 - exp(-s / sample_every)``, standing for
    ``s`` divided by that probability, so that the reports estimate every figure from far
    fewer records; ``sample_seed`` makes the choice repeatable.
    """

    def __init__(
        self,
        file_name: "Optional[PathLike]" = None,
        *,
        destination: "Optional[Destination]" = None,
        native_traces: bool = False,
        memory_interval_ms: int = 10,
        follow_fork: bool = False,
        trace_python_allocators: bool = False,
        track_object_lifetimes: bool = False,
        file_format: "FileFormat" = ALL_ALLOCATIONS,
        sample_every: "Optional[int]" = None,
        sample_seed: "Optional[int]" = None,
    ) -> None:
        if (file_name is None) == (destination is None):
            raise TypeError("Exactly one of 'file_name' or 'destination' argument must be specified")
        if track_object_lifetimes and sys.version_info < (3, 13, 3):
            raise RuntimeError(
                "Python object reference tracking requires Python 3.13.3 or later. "
                "Current version: {}.{}.{}".format(*sys.version_info[:3])
            )
        if file_name is not None:
            destination = FileDestination(path=file_name)
        if not isinstance(destination, (FileDestination, SocketDestination)):
            raise TypeError("destination must be a FileDestination or a SocketDestination")
        if follow_fork and not isinstance(destination, FileDestination):
            raise RuntimeError("follow_fork requires an output file")
        if file_format != ALL_ALLOCATIONS and not isinstance(destination, FileDestination):
            # Checked before any destination is opened (a socket would wait for its client).
            raise RuntimeError("AGGREGATED_ALLOCATIONS requires an output file")
        if memory_interval_ms <= 0:
            raise ValueError("memory_interval_ms must be positive")
        if sample_every is not None and (
            not isinstance(sample_every, int) or not 0 < sample_every < 2**64
        ):
            raise ValueError("sample_every must be a positive number of bytes")
        if sample_seed is not None and (
            sample_every is None or not isinstance(sample_seed, int)
            or not 0 <= sample_seed < 2**64
        ):
            raise ValueError("sample_seed needs sample_every, and must be an integer from 0 "
                             "to 2**64 - 1")
        self.destination: "Union[FileDestination, SocketDestination]" = destination
        self.native_traces = native_traces
        self.memory_interval_ms = memory_interval_ms
        self.follow_fork = follow_fork
        self.trace_python_allocators = trace_python_allocators
        self.track_object_lifetimes = track_object_lifetimes
        if file_format != ALL_ALLOCATIONS:
            from memray._enums import FileFormat

            file_format = FileFormat(file_format)
        self.file_format = file_format
        # Byte sampling: one allocated byte in `sample_every` on average is recorded, and the
        # reports estimate from them.
        self.sample_every = sample_every
        self.sample_seed = sample_seed
        self._main_tid: "Optional[int]" = None
        # Set by `memray run --follow-children`'s bootstrap in a child process.
        self._parent_pid = 0
        self._skipped_frames: "Optional[int]" = None
        self._surviving_objects: "Optional[Tuple[object, ...]]" = None
        self._surviving_error: "Optional[str]" = None

    def __enter__(self) -> "Tracker":
        global _fork_hook_registered, _exit_hook_registered, _active_tracker
        if _memray.is_tracking():
            raise RuntimeError("No more than one Tracker instance can be active at the same time")
        # FileFormat.AGGREGATED_ALLOCATIONS: the tracker sums up peak, leaks and totals per
        # location in this process and writes only those (a small file).
        aggregate = self.file_format != ALL_ALLOCATIONS
        dest = self.destination
        socket: "Optional[Tuple[str, int]]"
        if isinstance(dest, SocketDestination):
            # Live mode: waits for one client on address:port, then streams to it.
            socket = (dest.address, int(dest.server_port))
            path, overwrite, compress = f"{dest.address}:{dest.server_port}", False, False
        else:
            socket = None
            path, overwrite, compress = os.fspath(dest.path), dest.overwrite, dest.compress_on_exit
        stdlib, site_packages, sys_path = _python_paths()
        # Frames above the caller of __enter__ belong to whoever started tracking; reports
        # hide them on the main thread (Memray's rule). The count includes this frame.
        skipped = max(_memray.python_depth() - 2, 0)
        if self._skipped_frames is not None:
            skipped = self._skipped_frames
        self._surviving_objects = self._surviving_error = None
        _thread_names.install()
        try:
            self._main_tid = _memray.start_tracking(
                path,
                overwrite=overwrite,
                compress=compress,
                trace_python_allocators=self.trace_python_allocators,
                native_traces=self.native_traces,
                follow_fork=self.follow_fork,
                memory_interval_ms=self.memory_interval_ms,
                command_line=" ".join(sys.argv),
                python_version=".".join(map(str, sys.version_info[:3])),
                paths=(stdlib, site_packages, sys_path),
                skipped_frames=skipped,
                socket=socket,
                aggregate=aggregate,
                parent_pid=self._parent_pid,
                sampling=(None if self.sample_every is None
                          else (self.sample_every, self.sample_seed)),
            )
        except BaseException:
            _thread_names.uninstall()
            raise
        _thread_names.register_running()
        if not _fork_hook_registered:
            os.register_at_fork(
                before=_memray.python_fork_begins,
                after_in_parent=_memray.python_fork_ends,
                after_in_child=_after_fork_in_child,
            )
            _fork_hook_registered = True
        if not _exit_hook_registered:
            atexit.register(_stop_at_exit)
            _exit_hook_registered = True
        _active_tracker = self
        if self.track_object_lifetimes:
            # Last, so that the objects made to start tracking are not among the survivors.
            try:
                _memray.start_object_lifetimes()
            except BaseException:
                self.__exit__(None, None, None)
                raise
        return self

    def __exit__(
        self,
        exc_type: "Optional[Type[BaseException]]",
        exc_value: "Optional[BaseException]",
        traceback: "Optional[TracebackType]",
    ) -> "Literal[False]":
        global _active_tracker
        if self.track_object_lifetimes and _active_tracker is self:
            # First, for the same reason.
            try:
                self._surviving_objects = tuple(_memray.surviving_objects())
            except RuntimeError as e:
                self._surviving_error = str(e)
        _thread_names.uninstall()
        _active_tracker = None
        _memray.stop_tracking()
        return False

    def get_surviving_objects(self) -> "Tuple[object, ...]":
        """The objects created while this tracker was active that were still alive when it
        stopped (``track_object_lifetimes=True`` only).

        Raises ``RuntimeError`` when the tracker was not asked to track object lifetimes, has
        not finished tracking yet, or could not know the survivors.
        """
        if not self.track_object_lifetimes:
            raise RuntimeError(
                "track_object_lifetimes=True was not provided at Tracker construction"
            )
        if self._surviving_objects is None:
            reason = "Tracking was never started or has not finished yet or failed."
            if self._surviving_error is not None:
                reason = f"{reason} ({self._surviving_error})"
            raise RuntimeError(reason)
        return self._surviving_objects
