"""``memray run --follow-children``'s hook: this directory is first on ``PYTHONPATH`` for the
run only, so every Python process of the run imports this module from ``site``. It starts
tracking (``memray._follow_children``), takes its directory back out of ``sys.path`` (the
environment keeps it for the process's own children), then runs the ``sitecustomize`` it
shadows, if there is one. It never fails the interpreter's start: a process it cannot track
(another Python version) runs untracked."""

import os as _os
import sys as _sys


def _memray_follow_children() -> None:
    here = _os.path.dirname(_os.path.abspath(__file__))
    _sys.path[:] = [p for p in _sys.path if not p or _os.path.abspath(p) != here]
    spec = _os.environ.get("MEMRAY_RS_FOLLOW_CHILDREN")
    if spec:
        try:
            import json

            params = json.loads(spec)
            try:
                from memray import _follow_children
            except ImportError:
                _sys.path.insert(0, params["root"])
                try:
                    from memray import _follow_children
                finally:
                    _sys.path.remove(params["root"])
            _follow_children.start_in_child(params)
        except Exception:
            pass
    import importlib.machinery
    import importlib.util

    found = importlib.machinery.PathFinder.find_spec("sitecustomize", _sys.path)
    if found is not None and found.loader is not None:
        module = importlib.util.module_from_spec(found)
        _sys.modules["sitecustomize"] = module
        found.loader.exec_module(module)


_memray_follow_children()
