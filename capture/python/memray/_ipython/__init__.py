"""IPython/Jupyter support: ``%load_ext memray`` registers the ``%%memray_flamegraph`` magic."""


def load_ipython_extension(ipython):
    from memray._ipython.flamegraph import FlamegraphMagics

    ipython.register_magics(FlamegraphMagics)


__all__ = ["load_ipython_extension"]
