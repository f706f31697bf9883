"""``memray attach`` and ``memray detach``: start or stop tracking in a Python process that is
already running. ``memray-capture`` parses the command line and starts this module:

    python -m memray.commands.attach attach PID REQUEST_JSON
    python -m memray.commands.attach detach PID REQUEST_JSON

How it gets in, with gdb, at a safe point only (the GIL held, not inside the allocator). gdb
runs ``_gdb_inject.py`` (in gdb's own Python), which makes its calls into the target by hand
(see there: gdb's ``call`` breaks targets on processors with AMX):

1. gdb stops the target at the first instruction of ``malloc`` or of ``PyEval_SaveThread``
   (whichever a thread reaches first; at either the thread holds none of the allocator's
   locks), checks the target's ``Py_GetVersion()``, has it schedule a pending call
   (``Py_AddPendingCall``), and leaves. The interpreter runs pending calls on its main thread
   between two bytecodes, with the GIL held.
2. When the main thread does not run it within a second or two (it is blocked outside the
   interpreter: ``thread.join()``, a long ``read``), gdb comes back and stops the first thread
   that is about to release the GIL (the entry of ``PyEval_SaveThread``: it still holds it, no
   exception is pending) and runs the same code there, as a C extension may call back into
   Python before it releases the GIL.

The code (the bootstrap below) loads ``memray._memray`` by the path of *this* installation
(the target's environment need not have memray), starts tracking and reports back through a
status file. Both ways in may end up running it: the first to create ``<status>.claim`` does
the work, the other returns. ``memray detach`` calls the extension's ``memray_rs_detach``
(capture/src/detach.rs) the same two ways, so no Python code of the detach is in the capture.
CPython 3.14's ``sys.remote_exec`` runs the bootstrap without gdb (these machines have no
3.14: it is exercised through a stand-in).

What the attach leaves in the target: the modules it imports (importlib.machinery,
importlib.util, site, sysconfig, threading, atexit: most programs have them already), the
extension under ``sys.modules["_memray_rs_attached"]`` (how a second attach or a detach finds
it), and an ``atexit`` handler that finishes the capture.
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
    from typing import Any, Dict, Optional

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
        claim = os.open(P["status"] + ".claim", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        # The other way in got here first, or `memray attach` gave up and cleaned up.
        return
    try:
        os.write(claim, P["via"].encode())
    finally:
        os.close(claim)

    if P["action"] == "detach":
        # Only sys.remote_exec runs this; gdb calls the extension's memray_rs_detach instead.
        m = sys.modules.get("_memray_rs_attached")
        if m is not None and m.is_tracking():
            m.stop_tracking()
            report("ok")
        else:
            report("error: process %d is not being tracked by memray" % os.getpid())
        return

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
                paths=(
                    os.path.realpath(sysconfig.get_path("stdlib")),
                    site_packages,
                    [os.path.abspath(p) for p in sys.path if p],
                ),
                skipped_frames=0,
                socket=socket,
                socket_timeout=P["timeout"],
                aggregate=P["aggregate"],
                sampling=((P["sample_every"], P.get("sample_seed"))
                          if P.get("sample_every") else None),
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


class _Gdb:
    """gdb attached to the target, running ``_gdb_inject.py`` on `request`. Its output goes to
    a file, not a pipe: in the live view's case it may outlive this command (it is inside the
    bootstrap until the view connects), and it runs in a session of its own, so a Ctrl-C at
    the terminal never reaches it while the target is stopped."""

    def __init__(self, pid: int, request: "Dict[str, Any]") -> None:
        self.pid = pid
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(request, f)
        self.request = f.name
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_gdb_inject.py")
        self.proc = subprocess.Popen(
            [_gdb(), "-q", "-batch", "-nx", "-p", str(pid), "-x", script],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(os.environ, MEMRAY_GDB_REQUEST=self.request),
        )

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=max(timeout, 0))
            return True
        except subprocess.TimeoutExpired:
            return False

    def interrupt(self) -> None:
        """Stops gdb's wait for a safe point (never kill gdb while the process is stopped or
        has a breakpoint in it: a breakpoint left in malloc would kill it): the script then
        removes its breakpoints and detaches; a call under way is finished first."""
        self.proc.send_signal(signal.SIGINT)
        if not self.wait(30):
            self.proc.kill()
            self.proc.wait()

    def output(self) -> "Dict[str, str]":
        """What the script reported (``MEMRAY-KEY value`` lines); raises the ptrace failures
        gdb reports."""
        self.log.seek(0)
        out = self.log.read()
        if _VERBOSE:
            print(out, file=sys.stderr)
        if "ptrace: Operation not permitted" in out or "Could not attach to process" in out:
            raise AttachError(_PTRACE_HINT.format(pid=self.pid, scope=_ptrace_scope()))
        if "ptrace: No such process" in out:
            raise AttachError(f"no process with PID {self.pid}")
        said = {}
        for line in out.splitlines():
            if line.startswith("MEMRAY-"):
                key, _, value = line[len("MEMRAY-"):].partition(" ")
                said[key] = value
        if "NOT-PYTHON" in said:
            raise AttachError(
                f"process {self.pid} is not a Python process (no Python interpreter in it)")
        if "FAILED" in said:
            raise AttachError(f"could not get into process {self.pid}: {said['FAILED']}")
        if "EXITED" in said:
            raise AttachError(f"process {self.pid} exited before memray could get in")
        if not said and not self.running():
            # gdb itself failed (no Python support, or it could not attach).
            last = [l for l in out.splitlines() if l.strip()][-1:] or ["no output"]
            raise AttachError(f"gdb could not get into process {self.pid}: {last[0]}")
        return said

    def close(self) -> None:
        os.unlink(self.request)
        self.log.close()


def _check_version(pid: int, said: "Dict[str, str]") -> None:
    """Refuses a target of another Python version than the extension's."""
    version = said.get("VERSION", "")
    target = ".".join(version.split(" ", 1)[0].split(".")[:2])
    ours = "{}.{}".format(*sys.version_info[:2])
    if "VERSION" in said and target != ours:
        raise AttachError(
            f"process {pid} runs Python {version.split(' ', 1)[0] or 'of an unknown version'}, "
            f"but this memray is built for Python {ours}: run the memray of a Python {target} "
            "environment"
        )


# How long the main thread gets to run the pending call before gdb comes back for a thread
# that releases the GIL.
_PENDING_GRACE = 2.0


def _request(params: "Dict[str, Any]", mode: str) -> "Dict[str, Any]":
    """What ``_gdb_inject.py`` is told: the code to run (the bootstrap) or, for a detach, the
    status path ``memray_rs_detach`` is given."""
    request = {"action": params["action"], "mode": mode, "status": params["status"],
               "version": "{}.{}".format(*sys.version_info[:2])}
    if params["action"] == "attach":
        code = _BOOTSTRAP.replace("PARAMS", repr(dict(params, via=mode)))
        request["code"] = "exec(compile({!r}, '<memray attach>', 'exec'), {{'__name__': " \
            "'__memray_attach__'}})".format(code)
    return request


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _inject(pid: int, params: "Dict[str, Any]", timeout: float) -> str:
    """Has the target run the bootstrap (or the detach) at a safe point; returns its status."""
    deadline = time.monotonic() + timeout
    status_path = params["status"]
    gdb = _Gdb(pid, _request(params, "pending"))
    try:
        if not gdb.wait(timeout):
            gdb.interrupt()
            said = gdb.output()
            if "PENDING" not in said:
                _check_version(pid, said)
                raise AttachError(
                    f"process {pid} reached no point where memray can get in within "
                    f"{timeout:.0f} s (it made no allocation and released no GIL: is it "
                    "blocked or idle?)"
                )
        said = gdb.output()
    finally:
        gdb.close()
    if "NOT-TRACKED" in said:
        return f"error: process {pid} is not being tracked by memray"
    _check_version(pid, said)
    status = _wait_for_status(status_path, min(deadline, time.monotonic() + _PENDING_GRACE))
    if status:
        return status

    # The main thread is blocked outside the interpreter: run it on a thread that is about to
    # release the GIL (unless the pending call got there first).
    claim = status_path + ".claim"
    gdb = _Gdb(pid, _request(params, "direct"))
    try:
        status = _wait_for_status(status_path, deadline, until_exit=gdb)
        if status and params.get("port") is not None and _read(claim) == "direct":
            # Live view: gdb is inside the bootstrap, which waits for the view to connect.
            return status
        # The pending call ran, or the bootstrap is done: gdb leaves by itself at the next
        # release of the GIL; stop it waiting for one.
        if not gdb.wait(1.0 if status else 0):
            gdb.interrupt()
        gdb.output()
    finally:
        gdb.close()
    if status:
        return status
    raise AttachError(
        f"process {pid} did not run memray's code within {timeout:.0f} s (no thread ran Python "
        "code or released the GIL)"
    )


def _remote_exec(pid: int, params: "Dict[str, Any]", timeout: float) -> str:
    """CPython 3.14 and later: ``sys.remote_exec`` has the target run a script at its next safe
    point (the main thread, between two bytecodes, the GIL held), without a debugger. Not
    exercised here: these machines have no 3.14."""
    code = _BOOTSTRAP.replace("PARAMS", repr(dict(params, via="remote")))
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
    status = _wait_for_status(params["status"], time.monotonic() + timeout)
    if not status:
        raise AttachError(
            f"process {pid} did not run memray's code within {timeout:.0f} s (its main thread "
            "may be blocked outside the interpreter)"
        )
    return status


def _wait_for_status(status_path: str, deadline: float,
                     until_exit: "Optional[_Gdb]" = None) -> str:
    """The status the target wrote, or "" at `deadline` (or once `until_exit` has exited and
    the status still is not there)."""
    while True:
        status = _read(status_path)
        if status:
            return status
        if until_exit is not None and not until_exit.running():
            # A moment for a pending call scheduled earlier.
            until_exit = None
            deadline = min(deadline, time.monotonic() + _PENDING_GRACE)
        if time.monotonic() >= deadline:
            return ""
        time.sleep(0.05)


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
        from memray import _memray

        with tempfile.TemporaryDirectory(prefix="memray-attach-") as tmp:
            os.chmod(tmp, 0o777)
            params = dict(spec, action=action, extension=_memray.__file__,
                          status=os.path.join(tmp, "status"))
            if params.get("output"):
                params["output"] = os.path.abspath(params["output"])
            timeout = float(spec.get("timeout", 30))
            params["timeout"] = timeout
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
