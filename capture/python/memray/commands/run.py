"""The tracked half of ``memray run``: ``memray-capture`` parses the command line and starts
this module in the interpreter to profile, which runs the target program inside a ``Tracker``
exactly as Python would run it:

    python -m memray.commands.run FLAGS OUTPUT MODE TARGET [ARGS...]

FLAGS is ``-`` or letters: f (--force), q (--quiet), n (--native), t
(--trace-python-allocators), F (--follow-fork), C (--follow-children: with F), z (--no-compress), a (--aggregate), l (live: stream to a
client instead of writing a file), r (--live-remote: say how to connect first); OUTPUT is the
output file or empty for the default name, and with l the port to serve on (loopback only);
MODE is ``file``, ``module`` or ``code``. The memray command
line as typed comes in the environment variable MEMRAY_COMMAND_LINE, and ``--sample-every``
(with ``--sample-seed``) in MEMRAY_RS_SAMPLING as ``RATE`` or ``RATE:SEED``. (Kept to plain argv so
starting the program imports as little as possible.)"""

import os
import sys

from memray._destination import Destination, FileDestination, SocketDestination
from memray._tracker import ALL_ALLOCATIONS, Tracker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, TypedDict

    from memray._enums import FileFormat

    class _Spec(TypedDict):
        force: bool
        quiet: bool
        native: bool
        trace_python_allocators: bool
        follow_fork: bool
        follow_children: bool
        no_compress: bool
        aggregate: bool
        live: bool
        remote: bool
        output: Optional[str]
        mode: str
        target: str
        args: List[str]
        argv: List[str]
        sample_every: Optional[int]
        sample_seed: Optional[int]


_ONLY_AST = 0x400  # ast.PyCF_ONLY_AST, without importing ast


class _CommandError(Exception):
    """A reason to stop before running the program (memray._errors.MemrayCommandError's role,
    without importing one more module to start the program)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _validate_target(spec: "_Spec") -> None:
    if spec["mode"] == "module":
        return
    source: "str | bytes"
    try:
        if spec["mode"] == "code":
            source = spec["target"]
        else:
            with open(spec["target"], "rb") as f:
                source = f.read()
        compile(source, spec["target"], "exec", _ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError):
        raise _CommandError("Only valid Python files or commands can be executed under memray")
    except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
        raise _CommandError(str(e))


def _output_name(spec: "_Spec") -> str:
    output = spec["output"]
    if output:
        return output
    script = "string" if spec["mode"] == "code" else spec["target"]
    name = f"memray-{os.path.basename(script)}.{os.getpid()}.bin"
    if spec["mode"] == "file":
        return os.path.join(os.path.dirname(script), name)
    return name


def _should_modify_sys_path() -> bool:
    return not sys.flags.isolated and not getattr(sys.flags, "safe_path", False)


def _is_zip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _run_script(path: str) -> None:
    """Runs a script file as ``python path`` does: in a fresh ``__main__`` module."""
    import types
    from importlib.machinery import SourceFileLoader

    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__loader__ = SourceFileLoader("__main__", path)
    main.__dict__["__cached__"] = None
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _file_format(spec: "_Spec") -> "FileFormat":
    if spec["aggregate"]:
        from memray._enums import FileFormat

        return FileFormat.AGGREGATED_ALLOCATIONS
    return ALL_ALLOCATIONS


def _run_tracker(spec: "_Spec", filename: "Optional[str]", port: "Optional[int]" = None) -> None:
    # The capture records the memray command line, as typed.
    sys.argv[:] = spec["argv"]
    destination: "Destination"
    if port is not None:
        destination = SocketDestination(server_port=port, address="127.0.0.1")
    else:
        assert filename is not None
        destination = FileDestination(
            filename, overwrite=spec["force"], compress_on_exit=not spec["no_compress"]
        )
    if spec["follow_children"]:
        assert filename is not None
        from memray import _follow_children

        # `-o set/out.bin`: the capture set's own directory, made for it.
        os.makedirs(os.path.dirname(filename) or ".", exist_ok=True)
        _follow_children.export(
            filename,
            native=spec["native"],
            trace_python_allocators=spec["trace_python_allocators"],
            aggregate=spec["aggregate"],
            compress=not spec["no_compress"],
            sampling=(spec["sample_every"], spec["sample_seed"]),
        )
    try:
        tracker = Tracker(
            destination=destination,
            native_traces=spec["native"],
            trace_python_allocators=spec["trace_python_allocators"],
            follow_fork=spec["follow_fork"],
            file_format=_file_format(spec),
            sample_every=spec["sample_every"],
            sample_seed=spec["sample_seed"],
        )
        tracker_cm = tracker.__enter__()
    except OSError as e:
        raise _CommandError(str(e))
    pid = os.getpid()
    try:
        try:
            mode, target, args = spec["mode"], spec["target"], spec["args"]
            if mode != "code":
                import runpy
            if mode == "module":
                if _should_modify_sys_path():
                    sys.path[0] = os.getcwd()
                sys.argv[:] = ["", *args]
                try:
                    runpy.run_module(target, run_name="__main__", alter_sys=True)
                except ImportError as e:
                    if e.name in (None, target):
                        spec["quiet"] = True
                        raise _CommandError(f"memray: {e}")
                    raise
            elif mode == "code":
                if _should_modify_sys_path():
                    sys.path[0] = ""
                sys.argv[:] = ["-c", *args]
                exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
            else:
                if _should_modify_sys_path():
                    sys.path[0] = os.path.dirname(os.path.realpath(target))
                sys.argv[:] = [target, *args]
                if os.path.isfile(target) and not _is_zip(target):
                    _run_script(target)
                else:
                    runpy.run_path(target, run_name="__main__")
        finally:
            if not spec["quiet"] and filename is not None and os.getpid() == pid:
                print(
                    "[memray] Successfully generated profile results.\n\n"
                    "You can now generate reports from the stored allocation records.\n"
                    "Some example commands to generate reports:\n\n"
                    f"{sys.executable} -m memray flamegraph {filename}",
                    flush=True,
                )
                if spec["follow_children"]:
                    print(
                        f"\nThe other processes wrote {filename}.<pid>; every process "
                        f"together:\n\n{sys.executable} -m memray flamegraph "
                        f"{filename} {filename}.*",
                        flush=True,
                    )
    finally:
        tracker_cm.__exit__(*sys.exc_info())


def _parse(argv: "List[str]") -> "_Spec":
    flags, output, mode, target, *args = argv
    command_line = os.environ.pop("MEMRAY_COMMAND_LINE", "memray run")
    rate, _, seed = os.environ.pop("MEMRAY_RS_SAMPLING", "").partition(":")
    return {
        "force": "f" in flags,
        "quiet": "q" in flags,
        "native": "n" in flags,
        "trace_python_allocators": "t" in flags,
        "follow_fork": "F" in flags,
        "follow_children": "C" in flags,
        "no_compress": "z" in flags,
        "aggregate": "a" in flags,
        "live": "l" in flags,
        "remote": "r" in flags,
        "output": output or None,
        "mode": mode,
        "target": target,
        "args": args,
        "argv": command_line.split(" "),
        "sample_every": int(rate) if rate else None,
        "sample_seed": int(seed) if seed else None,
    }


def _run_live(spec: "_Spec") -> int:
    assert spec["output"] is not None
    port = int(spec["output"])
    if spec["remote"] and not spec["quiet"]:
        print(
            f"Run '{sys.executable} -m memray live {port}' in another shell to see live results",
            flush=True,
        )
    try:
        _run_tracker(spec, None, port=port)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: "List[str]") -> int:
    spec = _parse(argv)
    try:
        _validate_target(spec)
        if spec["live"]:
            return _run_live(spec)
        filename = _output_name(spec)
        if not spec["quiet"]:
            print(f"Writing profile results into {filename}", flush=True)
        _run_tracker(spec, filename)
    except _CommandError as e:
        print(str(e), file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    _argv = sys.argv[1:]
    del sys.argv[1:]
    sys.exit(main(_argv))
