"""``memray run --follow-children``: every Python process started below the run is tracked.

The run passes the bootstrap through the environment: ``export`` puts this package's
``_children`` directory (a ``sitecustomize`` and nothing else) first on ``PYTHONPATH`` and the
tracking options in ``MEMRAY_RS_FOLLOW_CHILDREN``. Every Python interpreter the run starts
(``subprocess``/``os.exec*`` of a Python, multiprocessing's spawn, the forkserver process)
inherits both, so its ``site`` runs that ``sitecustomize``, which calls ``start_in_child``:
tracking into ``<OUTPUT>.<pid>`` with ``follow_fork``, so that forked children (and the
forkserver's workers) follow too. Each capture records its parent's PID and start time.
Interpreters started with ``-I``, ``-S`` or ``-E``, and Pythons of another version than this
memray, run untracked; so do non-Python programs.
"""

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

ENV = "MEMRAY_RS_FOLLOW_CHILDREN"
HOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_children")


def export(output: str, *, native: bool, trace_python_allocators: bool, aggregate: bool,
           compress: bool, sampling: "Tuple[Optional[int], Optional[int]]" = (None, None)
           ) -> None:
    """Sets the environment every process the run starts inherits."""
    os.environ[ENV] = json.dumps(
        {
            "output": os.path.abspath(output),
            "native": native,
            "trace_python_allocators": trace_python_allocators,
            "aggregate": aggregate,
            "compress": compress,
            "sample_every": sampling[0],
            "sample_seed": sampling[1],
            # Where this `memray` package lives, for a child whose sys.path lacks it.
            "root": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        }
    )
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = HOOK_DIR + (os.pathsep + old if old else "")


def child_path(output: str, pid: int) -> str:
    """``<output>.<pid>``; ``<output>.<pid>-<n>`` when a process of that PID already wrote
    one (a process that exec'd a Python)."""
    path = f"{output}.{pid}"
    n = 1
    while os.path.lexists(path):
        path = f"{output}.{pid}-{n}"
        n += 1
    return path


def start_in_child(spec: "Dict[str, Any]") -> None:
    """Starts tracking this process for the rest of its life (the tracker's exit hook
    finishes the capture)."""
    from memray._destination import FileDestination
    from memray._tracker import ALL_ALLOCATIONS, Tracker

    file_format = ALL_ALLOCATIONS
    if spec["aggregate"]:
        from memray._enums import FileFormat

        file_format = FileFormat.AGGREGATED_ALLOCATIONS
    tracker = Tracker(
        destination=FileDestination(
            child_path(spec["output"], os.getpid()),
            overwrite=False,
            compress_on_exit=spec["compress"],
        ),
        native_traces=spec["native"],
        trace_python_allocators=spec["trace_python_allocators"],
        follow_fork=True,
        file_format=file_format,
        sample_every=spec.get("sample_every"),
        sample_seed=spec.get("sample_seed"),
    )
    tracker._parent_pid = os.getppid()
    # Started from `site`, before the program: none of the program's frames is memray's.
    tracker._skipped_frames = 0
    tracker.__enter__()
