"""The part of ``memray attach``/``memray detach`` that runs *inside gdb* (gdb's own embedded
Python, not the target's and not memray's): ``gdb -batch -p PID -x _gdb_inject.py``, with the
request in the JSON file named by ``$MEMRAY_GDB_REQUEST``. It never imports memray.

It waits for a safe point, a thread at the very first instruction of ``malloc`` or
``PyEval_SaveThread`` (the thread holds none of the allocator's locks, and at the second one it
holds the GIL), and there calls functions of the target itself:

- ``pending``: checks the target's ``Py_GetVersion()``, copies the code into the target's heap
  and schedules it with ``Py_AddPendingCall`` (the interpreter runs it on its main thread
  between two bytecodes, with the GIL held);
- ``direct``: at ``PyEval_SaveThread`` with no exception pending, runs the code there at once
  (for a main thread blocked outside the interpreter), unless the claim file says the pending
  call got there first.

The calls are made by hand rather than with gdb's ``call``: only the general-purpose registers
are saved, set and restored (on x86-64 and AArch64). gdb's ``call`` restores every register
afterwards, the vector state too, and gdb before 14 cannot write that state on processors with
AMX (Intel Sapphire Rapids and later: "Couldn't write extended state status"), which leaves the
target with a failed call half-undone. At a function's first instruction the C calling
convention makes every vector register the caller's to lose, so nothing more needs keeping.

Each outcome is one ``MEMRAY-…`` line on standard output, which ``attach.py`` reads.
"""

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

import gdb  # type: ignore  # gdb's own module: only exists inside gdb

_REQUEST = json.load(open(os.environ["MEMRAY_GDB_REQUEST"]))
_STOPS: "list[object]" = []
_EXITED: "list[object]" = []


def say(line: str) -> None:
    print("MEMRAY-" + line, flush=True)


def address(symbol: str) -> "Optional[int]":
    """The address of a function of the target, None when it has no such symbol."""
    try:
        return int(gdb.parse_and_eval("(long)&" + symbol))
    except gdb.error:
        return None


def entry_point() -> int:
    """The executable's entry point: never run again, so a breakpoint there catches returns."""
    for line in gdb.execute("info files", to_string=True).splitlines():
        if line.strip().startswith("Entry point:"):
            return int(line.split(":", 1)[1].strip(), 16)
    raise gdb.error("no entry point")


def register(name: str) -> int:
    while True:
        try:
            return int(gdb.parse_and_eval("$" + name))
        except KeyboardInterrupt:
            continue  # memray's SIGINT: this must not be cut short


def set_register(name: str, value: int) -> None:
    while True:
        try:
            # Registers are assignable in the innermost frame only.
            gdb.newest_frame().select()
            gdb.execute("set var ${} = {}".format(name, value), to_string=True)
            return
        except KeyboardInterrupt:
            continue  # memray's SIGINT: a thread must not be left half restored


def architecture() -> str:
    return str(gdb.selected_frame().architecture().name())


_SAVED = {
    "i386:x86-64": ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"]
    + ["r%d" % i for i in range(8, 16)]
    + ["rip", "eflags"],
    "aarch64": ["x%d" % i for i in range(31)] + ["sp", "pc", "cpsr"],
}
_ARGUMENTS = {
    "i386:x86-64": ["rdi", "rsi", "rdx", "rcx", "r8", "r9"],
    "aarch64": ["x%d" % i for i in range(8)],
}


def resume() -> object:
    """Continues until the next stop; returns the stop event, or None when the target exited."""
    del _STOPS[:]
    try:
        gdb.execute("continue", to_string=True)
    except KeyboardInterrupt:
        pass  # memray's SIGINT stopped the target
    except gdb.error:
        if _EXITED:
            return None
        raise
    if _EXITED:
        return None
    return _STOPS[-1] if _STOPS else INTERRUPTED


INTERRUPTED = object()


class CallFailed(Exception):
    pass


def call(function: int, *args: int) -> int:
    """Calls ``function(*args)`` on the stopped thread and returns its result; the thread's
    general-purpose registers are as they were afterwards, whatever happens. Other threads run
    meanwhile."""
    arch = architecture()
    if arch not in _SAVED:
        # Elsewhere gdb's own call (its register restore works where there is no AMX).
        typed = "(long(*)({}))".format(", ".join(["long"] * len(args)))
        text = "({}{})({})".format(typed, function, ", ".join(map(str, args)))
        return int(gdb.parse_and_eval(text))
    x86 = arch == "i386:x86-64"
    thread = gdb.selected_thread()
    saved = {name: register(name) for name in _SAVED[arch]}
    back = entry_point()
    bp = gdb.Breakpoint("*{}".format(back), internal=True)
    try:
        bp.thread = thread.global_num
        # Below the red zone, 16-byte aligned.
        sp = (saved["rsp" if x86 else "sp"] - 512) & ~0xF
        if x86:
            sp -= 8  # the return address, where a `call` instruction pushes it
            gdb.selected_inferior().write_memory(sp, back.to_bytes(8, "little"))
            set_register("rsp", sp)
            set_register("rax", 0)  # no vector arguments (for variadic functions)
        else:
            set_register("sp", sp)
            set_register("x30", back)
        for name, value in zip(_ARGUMENTS[arch], args):
            set_register(name, value)
        set_register("pc", function)
        while True:
            event = resume()
            if event is None:
                raise CallFailed("the process exited")
            if isinstance(event, gdb.BreakpointEvent) and bp in event.breakpoints:
                break
            # gdb was interrupted (memray gave up waiting): the call is under way, and the
            # thread must not be left with its registers changed; wait for it to return.
        thread.switch()
        return register("rax" if x86 else "x0")
    finally:
        if bp.is_valid():
            bp.delete()
        if not _EXITED:
            thread.switch()
            for name in _SAVED[arch]:
                set_register(name, saved[name])


def c_string(pointer: int) -> str:
    if not pointer:
        return ""
    data = bytes(gdb.selected_inferior().read_memory(pointer, 256))
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


def copy_in(text: str) -> int:
    """A NUL-terminated copy of `text` in the target's heap: a pending call reads it after gdb
    has gone. libc's ``malloc`` called at its address, not through a PLT entry that a running
    tracker has hooked, so none of this is in a capture."""
    data = text.encode() + b"\0"
    pointer = call(SYMBOLS["malloc"], len(data))
    if not pointer:
        raise CallFailed("out of memory")
    gdb.selected_inferior().write_memory(pointer, data)
    return pointer


def wait_for_safe_point(places: "list[int]",
                        ready: "Optional[Callable[[], bool]]" = None) -> bool:
    """Stops a thread at the first instruction of one of `places` (and for which
    `ready()` holds); False when gdb was interrupted or the target exited first."""
    bps = [gdb.Breakpoint("*{}".format(p), internal=True) for p in places]
    try:
        while True:
            event = resume()
            if event is None:
                say("EXITED")
                return False
            if not isinstance(event, gdb.BreakpointEvent):
                say("INTERRUPTED")
                return False
            if not any(bp in event.breakpoints for bp in bps):
                continue
            if ready is None or ready():
                return True
    finally:
        for bp in bps:
            if bp.is_valid():
                bp.delete()


SYMBOLS: "dict[str, int]" = {}


def main() -> None:
    gdb.execute("set pagination off")
    gdb.execute("set confirm off")
    # The program's signals go to it without stopping here; SIGINT is how memray stops gdb.
    gdb.execute("handle all nostop noprint pass", to_string=True)
    gdb.events.stop.connect(_STOPS.append)
    gdb.events.exited.connect(_EXITED.append)
    names = ["PyEval_SaveThread", "Py_AddPendingCall", "PyRun_SimpleString", "Py_GetVersion",
             "PyErr_Occurred", "malloc", "free"]
    for name in names:
        found = address(name)
        if found is None:
            say("NOT-PYTHON " + name)
            return
        SYMBOLS[name] = found
    request = _REQUEST
    detach = address("memray_rs_detach")
    if request["action"] == "detach":
        if detach is None:
            say("NOT-TRACKED")
            return
        SYMBOLS["memray_rs_detach"] = detach
    say("ARCH " + architecture())

    if request["mode"] == "pending":
        if not wait_for_safe_point([SYMBOLS["malloc"], SYMBOLS["PyEval_SaveThread"]]):
            return
        version = c_string(call(SYMBOLS["Py_GetVersion"]))
        say("VERSION " + version)
        if ".".join(version.split(" ", 1)[0].split(".")[:2]) != request["version"]:
            return
        if request["action"] == "detach":
            function = SYMBOLS["memray_rs_detach"]
            argument = copy_in(request["status"])
        else:
            function = SYMBOLS["PyRun_SimpleString"]
            argument = copy_in(request["code"])
        say("PENDING {}".format(call(SYMBOLS["Py_AddPendingCall"], function, argument)))
        return

    claim = request["status"] + ".claim"

    def ready() -> bool:
        # The pending call got there first (checked here, not by a call into the target), or
        # an exception is set (the function is giving the GIL up on an error path).
        return os.path.exists(claim) or call(SYMBOLS["PyErr_Occurred"]) == 0

    if not wait_for_safe_point([SYMBOLS["PyEval_SaveThread"]], ready):
        return
    if os.path.exists(claim):
        say("CLAIMED")
        return
    if request["action"] == "detach":
        argument = copy_in(request["status"])
        say("DIRECT {}".format(call(SYMBOLS["memray_rs_detach"], argument)))
    else:
        argument = copy_in(request["code"])
        say("DIRECT {}".format(call(SYMBOLS["PyRun_SimpleString"], argument)))
    call(SYMBOLS["free"], argument)


try:
    main()
except CallFailed as e:
    say("FAILED " + str(e))
except Exception as e:
    say("FAILED " + str(e).replace("\n", " "))
finally:
    try:
        gdb.execute("detach", to_string=True)
    except gdb.error:
        pass
