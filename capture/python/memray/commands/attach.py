"""``memray attach`` and ``memray detach``: start or stop tracking in a Python process that is
already running. ``memray-capture`` parses the command line and starts this module:

    python -m memray.commands.attach attach PID REQUEST_JSON
    python -m memray.commands.attach detach PID REQUEST_JSON

How it gets in: gdb stops the target at the entry of ``malloc`` (a point where the stopped
thread holds none of the allocator's locks), has it schedule a pending call
(``Py_AddPendingCall``), and leaves. The interpreter runs pending calls on its main thread
between two bytecodes, with the GIL held: there, and only there, the bootstrap below loads
``memray._memray`` by the path of *this* installation (the target's environment need not have
memray), starts or stops tracking, and reports back through a status file. (CPython 3.14's
``sys.remote_exec`` does the same without gdb; these machines have no 3.14.)
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

# Runs inside the target, in a namespace of its own (nothing lands in the target's __main__).
_BOOTSTRAP = r'''
def _memray_attach(P):
    import os, sys

    def report(message):
        # Raw descriptors: no buffered file object, so nearly nothing is allocated while
        # tracking has just started.
        tmp = P["status"] + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, message.encode())
        finally:
            os.close(fd)
        os.rename(tmp, P["status"])

    try:
        wanted = os.path.realpath(P["extension"])
        mod = None
        for name in ("_memray_rs_attached", "memray._memray"):
            m = sys.modules.get(name)
            if m is not None and os.path.realpath(getattr(m, "__file__", "") or "") == wanted:
                mod = m
                break
        other = sys.modules.get("memray._memray")
        if other is not None and other is not mod:
            is_tracking = getattr(other, "is_tracking", None)
            if is_tracking is not None and is_tracking():
                report("error: process %d is already being tracked" % os.getpid())
                return
        if mod is None:
            import importlib.machinery, importlib.util
            loader = importlib.machinery.ExtensionFileLoader("memray._memray", P["extension"])
            spec = importlib.util.spec_from_file_location(
                "memray._memray", P["extension"], loader=loader)
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)

        # What a second `memray attach` finds.
        sys.modules["_memray_rs_attached"] = mod
        if mod.is_tracking():
            report("error: process %d is already being tracked" % os.getpid())
            return
        import site, sysconfig
        site_packages = [os.path.abspath(p) for p in site.getsitepackages()]
        socket = None
        path = P["output"]
        if P["port"] is not None:
            socket = ("127.0.0.1", P["port"])
            path = "127.0.0.1:%d" % P["port"]
            # The tracker waits here for the live view to connect; say so first.
            report("ok")
        timer = None
        if P["duration"]:
            # Made and started before tracking starts, so that its thread is not in the capture.
            import threading
            timer = threading.Timer(P["duration"], lambda: stop())
            timer.daemon = True
            timer.start()

        def stop():
            if mod.is_tracking():
                mod.stop_tracking()

        try:
            mod.start_tracking(
                path,
                overwrite=P["force"],
                compress=P["compress"],
                trace_python_allocators=P["trace_python_allocators"],
                native_traces=P["native"],
                follow_fork=P["follow_fork"],
                memory_interval_ms=10,
                command_line=" ".join(sys.argv),
                python_version=".".join(map(str, sys.version_info[:3])),
                stdlib_dir=os.path.realpath(sysconfig.get_path("stdlib")),
                site_packages=site_packages,
                sys_path=[os.path.abspath(p) for p in sys.path if p],
                skipped_frames=0,
                socket=socket,
                aggregate=P["aggregate"],
            )
        except BaseException:
            if timer is not None:
                timer.cancel()
            raise
        import atexit
        atexit.register(stop)
        if socket is None:
            report("ok")
    except BaseException as e:
        try:
            report("error: %s" % (e,))
        except BaseException:
            pass

_memray_attach(PARAMS)
'''

_PTRACE_HINT = (
    "the debugger may not attach to process {pid}: run as the same user with ptrace allowed "
    "(/proc/sys/kernel/yama/ptrace_scope is {scope}; 0 allows it, or give memray the "
    "CAP_SYS_PTRACE capability, e.g. run it as root or a container with --cap-add=SYS_PTRACE)"
)


class AttachError(Exception):
    pass


# --verbose: gdb's output goes to standard error.
_VERBOSE = False


def _gdb() -> str:
    gdb = shutil.which("gdb")
    if gdb is None:
        raise AttachError("memray attach needs gdb, which is not installed (apt-get install gdb)")
    return gdb


def _ptrace_scope() -> str:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return f.read().strip()
    except OSError:
        return "absent"


def _check_pid(pid: int) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise AttachError(f"no process with PID {pid}") from None
    except PermissionError:
        raise AttachError(_PTRACE_HINT.format(pid=pid, scope=_ptrace_scope())) from None


def _run_gdb(pid: int, commands: "list[str]", timeout: float) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".gdb", delete=False) as script:
        script.write("\n".join(commands) + "\n")
    gdb = subprocess.Popen(
        [_gdb(), "-q", "-batch", "-nx", "-p", str(pid), "-x", script.name],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = gdb.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Never kill gdb while the process is stopped or has a breakpoint in it (a breakpoint
        # left in malloc would kill it): interrupt it, and gdb, at the end of its script,
        # removes the breakpoint and detaches.
        gdb.send_signal(signal.SIGINT)
        try:
            gdb.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            gdb.kill()
            gdb.communicate()
        raise AttachError(
            f"process {pid} reached no point where memray can get in within {timeout:.0f} s "
            "(it made no allocation: is it blocked or idle?)"
        ) from None
    finally:
        os.unlink(script.name)
    out = stdout + stderr
    if _VERBOSE:
        print(out, file=sys.stderr)
    if "ptrace: Operation not permitted" in out or "Could not attach to process" in out:
        raise AttachError(_PTRACE_HINT.format(pid=pid, scope=_ptrace_scope()))
    if "ptrace: No such process" in out:
        raise AttachError(f"no process with PID {pid}")
    return out


def _probe(pid: int) -> None:
    """Checks that the target is a CPython of the version this memray was built for, without
    running anything in it but ``Py_GetVersion`` (which formats into a static buffer)."""
    out = _run_gdb(
        pid,
        [
            "set pagination off",
            "set confirm off",
            "set unwindonsignal on",
            "printf \"MEMRAY-SYMBOL %p\\n\", (void*)&Py_AddPendingCall",
            "printf \"MEMRAY-VERSION %s\\n\", (char*)Py_GetVersion()",
            "detach",
            "quit",
        ],
        timeout=60,
    )
    if "MEMRAY-SYMBOL" not in out:
        raise AttachError(f"process {pid} is not a Python process (no Python interpreter in it)")
    version = next(
        (l.split(" ", 1)[1] for l in out.splitlines() if l.startswith("MEMRAY-VERSION ")), ""
    )
    target = ".".join(version.split(" ", 1)[0].split(".")[:2])
    ours = "{}.{}".format(*sys.version_info[:2])
    if target != ours:
        raise AttachError(
            f"process {pid} runs Python {version.split(' ', 1)[0] or 'of an unknown version'}, "
            f"but this memray is built for Python {ours}: run the memray of a Python {target} "
            "environment"
        )


def _inject(pid: int, params: "Dict[str, Any]", timeout: float) -> str:
    """Has the target run the bootstrap at its next safe point; returns its status line."""
    if params["action"] == "detach":
        # memray._memray's own pending call (capture/src/detach.rs): no Python code runs, so
        # nothing of the detach is in the capture. Without the extension in the process, gdb
        # finds no such function: nothing was attached.
        call = "(int)Py_AddPendingCall(memray_rs_detach, (void*){})".format(
            json.dumps(params["status"]))
    else:
        code = _BOOTSTRAP.replace("PARAMS", repr(params))
        line = "exec(compile({!r}, '<memray attach>', 'exec'), {{'__name__': '__memray_attach__'}})"
        call = "(int)Py_AddPendingCall((int(*)(void*))PyRun_SimpleString, (void*){})".format(
            json.dumps(line.format(code)))
    out = _run_gdb(
        pid,
        [
            "set pagination off",
            "set confirm off",
            "set unwindonsignal on",
            "break malloc",
            "commands 1",
            "  delete breakpoints",
            "  call " + call,
            "  detach",
            "  quit",
            "end",
            "continue",
        ],
        timeout=timeout,
    )
    if params["action"] == "detach" and 'No symbol "memray_rs_detach"' in out:
        return f"error: process {pid} is not being tracked by memray"
    return _wait_for_status(pid, params["status"], timeout)


# `memray detach` through sys.remote_exec, which can only run Python code.
_DETACH_CODE = """
import os, sys
m = sys.modules.get("_memray_rs_attached")
tracking = m is not None and m.is_tracking()
if tracking:
    m.stop_tracking()
with open(STATUS + ".tmp", "w") as f:
    f.write("ok" if tracking else "error: process %d is not being tracked by memray" % os.getpid())
os.rename(STATUS + ".tmp", STATUS)
"""


def _remote_exec(pid: int, params: "Dict[str, Any]", timeout: float) -> str:
    """CPython 3.14 and later: ``sys.remote_exec`` has the target run a script at its next safe
    point (the main thread, between two bytecodes, the GIL held), without a debugger. Not
    exercised here: these machines have no 3.14."""
    if params["action"] == "detach":
        code = _DETACH_CODE.replace("STATUS", repr(params["status"]), 1)
        code = "STATUS = {!r}\n{}".format(params["status"], _DETACH_CODE)
    else:
        code = _BOOTSTRAP.replace("PARAMS", repr(params))
    script = params["status"] + ".py"
    with open(script, "w") as f:
        f.write("exec(compile({!r}, '<memray attach>', 'exec'), "
                "{{'__name__': '__memray_attach__'}})\n".format(code))
    os.chmod(script, 0o644)
    try:
        getattr(sys, "remote_exec")(pid, script)
    except ProcessLookupError:
        raise AttachError(f"no process with PID {pid}") from None
    except PermissionError:
        raise AttachError(_PTRACE_HINT.format(pid=pid, scope=_ptrace_scope())) from None
    except (RuntimeError, OSError) as e:
        raise AttachError(f"could not get into process {pid}: {e}") from None
    return _wait_for_status(pid, params["status"], timeout)


def _wait_for_status(pid: int, status_path: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(status_path) as f:
                status = f.read()
            if status:
                return status
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AttachError(
        f"process {pid} did not run memray's code within {timeout:.0f} s (its main thread may be "
        "blocked outside the interpreter)"
    )


def main(argv: "list[str]") -> int:
    action, pid_text, request = argv
    pid = int(pid_text)
    spec = json.loads(request)
    global _VERBOSE
    _VERBOSE = bool(spec.get("verbose"))
    # CPython 3.14's sys.remote_exec where this interpreter (the target's version) has it.
    remote = hasattr(sys, "remote_exec") and spec.get("method", "auto") == "auto"
    try:
        _check_pid(pid)
        if not remote:
            _probe(pid)
        from memray import _memray

        with tempfile.TemporaryDirectory(prefix="memray-attach-") as tmp:
            os.chmod(tmp, 0o777)
            params = dict(spec, action=action, extension=_memray.__file__,
                          status=os.path.join(tmp, "status"))
            if params.get("output"):
                params["output"] = os.path.abspath(params["output"])
            timeout = float(spec.get("timeout", 30))
            inject = _remote_exec if remote else _inject
            status = inject(pid, params, timeout)
    except AttachError as e:
        print(f"memray: {e}", file=sys.stderr)
        return 1
    if status != "ok":
        print(f"memray: {status.removeprefix('error: ')}", file=sys.stderr)
        return 1
    if action == "attach" and spec.get("port") is None:
        print(f"Attached to process {pid}; writing {params['output']}", file=sys.stderr)
    elif action == "detach":
        print(f"Detached from process {pid}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
