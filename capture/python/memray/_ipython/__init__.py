"""IPython/Jupyter support: ``%load_ext memray`` registers the ``%%memray_flamegraph`` magic."""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext memray``: registers the ``%%memray_flamegraph`` cell magic."""
    from memray._ipython.flamegraph import FlamegraphMagics

    ipython.register_magics(FlamegraphMagics)


__all__ = ["load_ipython_extension"]
