"""The pytest plugin (entry point ``pytest11``): pytest-memray's interface on this package.

``pytest --memray`` profiles every test and prints a MEMRAY REPORT of the tests that used the
most memory; the ``limit_memory("24 MB")`` and ``limit_leaks("1 MB", filter_fn=...)`` markers
fail the tests that use or leak more (and profile those tests even without ``--memray``).
Works under pytest-xdist: workers leave their results in a directory the controller reads.

If the separate ``pytest-memray`` distribution is installed it owns these options and markers
(and runs on this package's ``memray`` API), so this plugin stands aside; ``-p no:memray``
disables both.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import importlib.metadata
import inspect
import json
import math
import os
import pickle
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any, Callable, Dict, Generator, Iterable, List, Optional, Tuple
from typing import Union

import pytest

if TYPE_CHECKING:
    from memray._metadata import Metadata
    from memray._reader import AllocationRecord
    from memray._tracker import Tracker

#: What a hook wrapper yields to and gets back from pytest.
_HookWrapper = Generator[None, Any, None]

N_TOP_ALLOCS = 5
N_HISTOGRAM_BINS = 5
MAX_SECTION_ALLOCATIONS = 10
# One path component holds at most 255 bytes; the sibling ".metadata" file is 5 bytes longer
# than the ".bin" dump it describes.
MAX_NAME_BYTES = 255 - (len(".metadata") - len(".bin"))


def _standing_aside(pluginmanager: pytest.PytestPluginManager) -> bool:
    """True when pytest-memray is installed (it provides the plugin) or memray plugins are
    disabled with ``-p no:memray``."""
    if pluginmanager.is_blocked("memray"):
        return True
    try:
        importlib.metadata.distribution("pytest-memray")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


# ------------------------------------------------------------------------------------------
# Sizes


def sizeof_fmt(num: float, suffix: str = "B") -> str:
    """Binary units with one decimal: ``2048`` -> ``2.0KiB`` (pytest-memray's format)."""
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        if abs(num) < 1024.0:
            return f"{num:3.1f}{unit}{suffix}"
        num /= 1024.0
    return f"{num:.1f}Yi{suffix}"


_MEMORY = re.compile(r"(\+?\d*\.\d+|\+?\d+)\s*([KMGTP]B|B)", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "PB": 1024**5}


def parse_memory_string(text: str) -> float:
    """``"24 MB"`` -> bytes (units are powers of 1024, case-insensitive)."""
    m = _MEMORY.match(text)
    if m is None:
        raise ValueError(f"Invalid memory size format: {text}")
    return float(m.group(1)) * _UNITS[m.group(2).upper()]


def _positive_int(value: str) -> int:
    n = int(value)
    if n <= 0:
        import argparse

        raise argparse.ArgumentTypeError(f"{value} is an invalid positive int value")
    return n


def _writable_directory(value: str) -> Path:
    import argparse

    folder = Path(value).absolute()
    if folder.exists():
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"{folder} must be a directory")
        if not os.access(folder, os.W_OK):
            raise argparse.ArgumentTypeError(f"{folder} is read-only")
    else:
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot create directory {folder} due to {exc}")
    return folder


_GROWTH_UNITS = {"": 1, "B": 1, "k": 10**3, "kB": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6,
                 "G": 10**9, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def _threshold(value: str) -> "Tuple[str, float]":
    """``10%`` -> ("%", 10.0); ``1MB`` -> ("B", 1e6): how much growth a comparison allows (the
    thresholds of ``memray diff --fail-if-...``)."""
    import argparse

    text = value.strip()
    bad = argparse.ArgumentTypeError(
        f"{value!r} is not a threshold: give a percentage (10%) or a size (1MB)")
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            if not 0 <= pct < float("inf"):
                raise bad
            return ("%", pct)
        number = text.rstrip("kKMGiB").strip()
        unit = text[len(number):].strip()
        size = float(number) * _GROWTH_UNITS[unit]
    except (ValueError, KeyError):
        raise bad from None
    if not 0 <= size < float("inf"):
        raise bad
    return ("B", round(size))


def _grew_past(threshold: "Tuple[str, float]", base: int, new: int) -> bool:
    change = new - base
    if change <= 0:
        return False
    kind, limit = threshold
    if kind == "B":
        return change > limit
    return base == 0 or change * 100 > limit * base


BASELINE_FILE = "memray-baseline.json"


# ------------------------------------------------------------------------------------------
# Options: a command-line flag wins; otherwise the ini key; otherwise the default.

_INI = {
    "memray": ("memray", False),
    "hide_memray_summary": ("hide_memray_summary", False),
    "most_allocations": ("most_allocations", 5),
    "stacks": ("stacks", 1),
    "native": ("native", False),
    "trace_python_allocators": ("trace_python_allocators", False),
    "fail_on_increase": ("fail-on-increase", False),
}


def _setting(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name, None)
    if value is not None:
        return value
    ini, default = _INI[name]
    try:
        raw = config.getini(ini)
    except (KeyError, ValueError):
        raw = None
    if raw in (None, "", []):
        return default
    if isinstance(default, bool):
        return bool(raw)
    return int(raw)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if _standing_aside(pluginmanager):
        return
    group = parser.getgroup("memray")
    group.addoption("--memray", action="store_true", default=None,
                    help="Activate memray tracking")
    group.addoption("--memray-bin-path", type=_writable_directory, default=None,
                    help="Path where to write the memray binary dumps "
                         "(by default a temporary folder)")
    group.addoption("--memray-bin-prefix", default=None,
                    help="Prefix to use for the binary dump (by default a random UUID4 hex)")
    group.addoption("--hide-memray-summary", action="store_true", default=None,
                    help="Hide the memray summary at the end of the execution")
    group.addoption("--most-allocations", type=int, default=None,
                    help="Show the N tests that allocate most memory (N=0 for all)")
    group.addoption("--stacks", type=_positive_int, default=None,
                    help="Show the N stack entries when showing tracebacks of memory "
                         "allocations")
    group.addoption("--native", action="store_true", default=None,
                    help="Show native frames when showing tracebacks of memory allocations "
                         "(will be slower)")
    group.addoption("--trace-python-allocators", action="store_true", default=None,
                    help="Record allocations made by the Pymalloc allocator (will be slower)")
    group.addoption("--fail-on-increase", action="store_true", default=None,
                    help="Fail a test with the limit_memory marker if it uses more memory "
                         "than its last successful run")
    group.addoption("--memray-baseline", type=_writable_directory, default=None,
                    metavar="DIR",
                    help="Track every test and store its peak memory and leaked bytes in "
                         "DIR/memray-baseline.json")
    group.addoption("--memray-compare", default=None, metavar="DIR",
                    help="Track every test and fail one whose peak memory grew past "
                         "--memray-max-growth over the baseline stored in DIR")
    group.addoption("--memray-max-growth", type=_threshold, default=None,
                    metavar="PCT|BYTES",
                    help="With --memray-compare: the growth of a test's peak memory allowed, "
                         "as a percentage of its baseline (10%%, the default) or a size (1MB)")
    parser.addini("memray", "Activate pytest.ini setting", type="bool")
    parser.addini("hide_memray_summary",
                  "Hide the memray summary at the end of the execution", type="bool")
    parser.addini("stacks", "Show the N stack entries when showing tracebacks of memory "
                            "allocations", type="string")
    parser.addini("native", "Show native frames when showing tracebacks of memory "
                            "allocations (will be slower)", type="bool")
    parser.addini("trace_python_allocators",
                  "Record allocations made by the Pymalloc allocator (will be slower)",
                  type="bool")
    parser.addini("fail-on-increase", "Fail a test with the limit_memory marker if it uses "
                                      "more memory than its last successful run", type="bool")
    parser.addini("verbosity_memray",
                  "Verbosity level for limit_memory failure reports. At negative levels only "
                  "a summary is shown, at 0 or 1 the top 10 allocations by size, from 2 up "
                  "all allocations. The default follows pytest's -v / -q flags.",
                  default="auto")
    parser.addini("most_allocations",
                  "Show the N tests that allocate most memory (N=0 for all)")


# ------------------------------------------------------------------------------------------
# Markers


@dataclass
class StackFrame:
    """One frame of the call stack of an allocation."""

    function: str
    filename: str
    lineno: int


@dataclass
class Stack:
    """The call stack of an allocation, innermost frame first."""

    frames: Tuple[StackFrame, ...]


def _allocation_lines(records: Iterable[AllocationRecord], hybrid: bool, num_stacks: int) -> str:
    lines = []
    for record in records:
        stack = record.hybrid_stack_trace() if hybrid else record.stack_trace()
        if not stack:
            continue
        lines.append(f"    - {sizeof_fmt(record.size)} allocated here:")
        for i, (function, filename, lineno) in enumerate(stack):
            if i == num_stacks:
                lines.append("        ...")
                break
            lines.append(f"        {function}:{filename}:{lineno}")
    return "\n".join(lines)


@dataclass
class MemoryLimitExceeded:
    limit: float
    allocations: List[AllocationRecord]
    num_stacks: int
    hybrid: bool
    total: int
    verbosity: int

    @property
    def long_repr(self) -> str:
        return f"Test was limited to {sizeof_fmt(self.limit)} but allocated {sizeof_fmt(self.total)}"

    @property
    def section(self) -> Optional[Tuple[str, str]]:
        if self.verbosity < 0:
            return None
        shown = self.allocations
        if self.verbosity < 2:
            shown = sorted(shown, key=lambda r: r.size, reverse=True)[:MAX_SECTION_ALLOCATIONS]
        body = _allocation_lines(shown, self.hybrid, self.num_stacks)
        hidden = len(self.allocations) - len(shown)
        if hidden > 0:
            body += f"\n    ...and {hidden} more"
        return ("memray-max-memory", "List of allocations:\n" + body)


@dataclass
class MemoryIncreased:
    previous: float
    current: float

    @property
    def long_repr(self) -> str:
        return (f"Test previously used {sizeof_fmt(self.previous)} "
                f"but now uses {sizeof_fmt(self.current)}")

    @property
    def section(self) -> Optional[Tuple[str, str]]:
        return ("memray-max-memory", "Test uses more memory than previous run")


@dataclass
class LeakLimitExceeded:
    limit: float
    allocations: List[AllocationRecord]
    num_stacks: int

    @property
    def long_repr(self) -> str:
        return (f"Test was allowed to leak {sizeof_fmt(self.limit)} per location "
                "but at least one location leaked more")

    @property
    def section(self) -> Optional[Tuple[str, str]]:
        body = _allocation_lines(self.allocations, True, self.num_stacks)
        return ("memray-leaked-memory", "List of leaked allocations:\n" + body)


#: Why a marker failed its test.
_Failure = Union[MemoryLimitExceeded, MemoryIncreased, LeakLimitExceeded]


def _records(result_file: Path, leaks: bool, current_thread_only: bool) -> List[AllocationRecord]:
    from memray import FileReader

    with FileReader(result_file) as reader:
        main = reader.metadata.main_thread_id
        get = (reader.get_leaked_allocation_records if leaks
               else reader.get_high_watermark_allocation_records)
        return [r for r in get(merge_threads=not current_thread_only)
                if not current_thread_only or r.tid == main]


def limit_memory(limit: str, *, current_thread_only: bool = False, _result_file: Path,
                 _config: pytest.Config, _test_id: str) -> Optional[_Failure]:
    """Fail the test if its peak memory reaches the limit (e.g. ``"24 MB"``)."""
    allocations = _records(_result_file, False, current_thread_only)
    limit_bytes = parse_memory_string(limit)
    total = sum(r.size for r in allocations)
    cache: Optional[pytest.Cache] = getattr(_config, "cache", None)
    if cache is not None:
        key = f"memray/{_test_id}"
        entry = cache.get(key, {})
        previous = entry.get("total_allocated_memory", float("inf"))
        if _setting(_config, "fail_on_increase") and total > previous:
            return MemoryIncreased(previous, total)
        entry["total_allocated_memory"] = total
        cache.set(key, entry)
    if total < limit_bytes:
        return None
    return MemoryLimitExceeded(
        limit=limit_bytes,
        allocations=allocations,
        num_stacks=_setting(_config, "stacks"),
        hybrid=_setting(_config, "native"),
        total=total,
        verbosity=_config.get_verbosity("memray"),
    )


def limit_leaks(location_limit: str, *, filter_fn: Optional[Callable[[Stack], bool]] = None,
                current_thread_only: bool = False, _result_file: Path, _config: pytest.Config,
                _test_id: str) -> Optional[_Failure]:
    """Fail the test if memory allocated at one place and still alive at its end reaches the
    limit. ``filter_fn(stack)`` returning False ignores the allocations of that stack."""
    limit_bytes = parse_memory_string(location_limit)
    leaked = []
    for record in _records(_result_file, True, current_thread_only):
        if record.size < limit_bytes:
            continue
        if filter_fn is not None:
            stack = Stack(tuple(StackFrame(*f) for f in record.hybrid_stack_trace()))
            if not filter_fn(stack):
                continue
        leaked.append(record)
    if not leaked:
        return None
    return LeakLimitExceeded(limit=limit_bytes, allocations=leaked,
                             num_stacks=max(_setting(_config, "stacks"), 5))


def limit_leaked_objects(*, filter_fn: Optional[Callable[[object], bool]] = None,
                         _result_file: Path, _config: pytest.Config,
                         _test_id: str) -> Optional[_Failure]:
    """Fail the test if objects created during it survive it (needs Python 3.13.3+)."""
    return None


MARKERS: Dict[str, Callable[..., Optional[_Failure]]] = {
    "limit_memory": limit_memory,
    "limit_leaks": limit_leaks,
    "limit_leaked_objects": limit_leaked_objects,
}


# ------------------------------------------------------------------------------------------
# The summary's histogram: one character per bin, log scale.


def _histogram(values: List[float], low: float, high: float, bins: int) -> List[int]:
    step = ((high - low) / bins) or low or 1
    counts = collections.Counter((v - low) // step for v in values)
    return [counts[b] for b in range(bins)]


def cli_hist(data: Iterable[float], bins: int) -> str:
    bars = " ▁▂▃▄▅▆▇█"
    logs = [math.log(v if v else 1) for v in data]
    counts = _histogram(logs, min(logs), max(logs), bins)
    top = max(counts)
    return "".join(bars[int(c * (len(bars) - 1) / top)] for c in counts)


# ------------------------------------------------------------------------------------------
# The session's manager


@dataclass
class Result:
    test_id: str
    metadata: Metadata
    result_file: Path
    leaked_bytes: int = 0


def _short_name(name: str) -> str:
    """``name`` cut to fit a path component, ending in a digest of the whole name."""
    raw = name.encode("utf-8")
    if len(raw) <= MAX_NAME_BYTES:
        return name
    tail = f"-{hashlib.sha256(raw).hexdigest()[:16]}.bin"
    return raw[: MAX_NAME_BYTES - len(tail)].decode("utf-8", "ignore") + tail


class Manager:
    """Runs the tests under the tracker, checks the markers, writes the summary.

    Each profiled test writes one capture into the result directory: ``--memray-bin-path``
    (files named ``<prefix>-<test id>.bin``, kept), or a temporary directory (removed at the
    end). Beside the captures, ``metadata/`` holds a pickled ``Result`` per test, which is how a
    pytest-xdist controller learns what its workers ran (they get the directory from it).
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: Dict[str, Result] = {}
        self._tmp_dir: Optional[TemporaryDirectory[str]] = None
        worker = getattr(config, "workerinput", None)
        if worker is not None and "memray_result_path" in worker:
            self.result_path = Path(worker["memray_result_path"])
            self.bin_prefix = worker["memray_bin_prefix"]
            self.named = worker["memray_named"]
        else:
            bin_path = config.getoption("memray_bin_path", None)
            self.named = bin_path is not None
            if bin_path is None:
                self._tmp_dir = TemporaryDirectory(prefix="memray-pytest-")
                bin_path = self._tmp_dir.name
            self.result_path = Path(bin_path)
            self.bin_prefix = config.getoption("memray_bin_prefix", None) or uuid.uuid4().hex
        self.metadata_path = self.result_path / "metadata"
        self.metadata_path.mkdir(parents=True, exist_ok=True)
        self.baseline_dir: Optional[Path] = config.getoption("memray_baseline", None)
        compare = config.getoption("memray_compare", None)
        self.max_growth = config.getoption("memray_max_growth", None) or ("%", 10.0)
        self.baseline: Optional[Dict[str, Dict[str, int]]] = None
        if compare is not None:
            path = Path(compare) / BASELINE_FILE
            try:
                self.baseline = json.loads(path.read_text())["tests"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise pytest.UsageError(f"--memray-compare: cannot read {path}: {exc}")
        self.from_workers = False
        self.tracks_every_test = bool(_setting(config, "memray")) or (
            self.baseline_dir is not None or self.baseline is not None)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: a worker writes where the controller reads."""
        node.workerinput["memray_result_path"] = str(self.result_path)
        node.workerinput["memray_bin_prefix"] = self.bin_prefix
        node.workerinput["memray_named"] = self.named

    # -- running the tests under the tracker ------------------------------------------------

    def _dump_path(self, item: pytest.Item) -> Path:
        if not self.named:
            return self.result_path / f"{uuid.uuid4().hex}.bin"
        node = item.nodeid.replace("::", "-").replace(os.sep, "-")
        path = self.result_path / _short_name(f"{self.bin_prefix}-{node}.bin")
        if path.exists():
            path.unlink()
        return path

    def _record_result(self, item: pytest.Item, path: Path) -> None:
        from memray import FileReader

        try:
            with FileReader(path) as reader:
                metadata = reader.metadata
                # Only a baseline keeps the leaks: no second pass over every test otherwise.
                leaked = 0 if self.baseline_dir is None else sum(
                    r.size for r in reader.get_leaked_allocation_records(merge_threads=True))
        except OSError:
            return
        result = Result(item.nodeid, metadata, path, leaked)
        (self.metadata_path / path.with_suffix(".metadata").name).write_bytes(
            pickle.dumps(result))
        self.results[item.nodeid] = result

    @pytest.hookimpl(hookwrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> _HookWrapper:
        func = pyfuncitem.obj
        marks = {m.name for m in pyfuncitem.iter_markers() if m.name in MARKERS}
        if not marks and not self.tracks_every_test:
            yield
            return
        if len(marks) > 1:
            raise ValueError("Only one Memray marker can be applied to each test")
        native = bool(_setting(self.config, "native"))
        python_allocators = bool(_setting(self.config, "trace_python_allocators"))
        if "limit_leaks" in marks:
            native = python_allocators = True

        def prepare() -> Tuple[Path, Tracker]:
            # Restore the test function, so that plugins calling this hook again (flaky) do
            # not wrap the wrapper.
            pyfuncitem.obj = func
            path = self._dump_path(pyfuncitem)
            return path, _tracker(path, native, python_allocators)

        def fallback(path: Path, exc: BaseException) -> Tracker:
            # Native stacks where the tracker cannot record them yet: profile without.
            if not native:
                raise exc
            return _tracker(path, False, python_allocators)

        # The wrappers enter the Tracker themselves: reports hide the frames above the one
        # that started tracking, so stacks end at the wrapper, as with pytest-memray.
        wrapped: Callable[..., Any]
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                path, tracker = prepare()
                try:
                    tracker.__enter__()
                except NotImplementedError as exc:
                    tracker = fallback(path, exc)
                    tracker.__enter__()
                try:
                    value = await func(*args, **kwargs)
                except BaseException:
                    tracker.__exit__(*sys.exc_info())
                    raise
                tracker.__exit__(None, None, None)
                self._record_result(pyfuncitem, path)
                return value

            wrapped = async_wrapper
        else:
            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                path, tracker = prepare()
                try:
                    tracker.__enter__()
                except NotImplementedError as exc:
                    tracker = fallback(path, exc)
                    tracker.__enter__()
                try:
                    value = func(*args, **kwargs)
                except BaseException:
                    tracker.__exit__(*sys.exc_info())
                    raise
                tracker.__exit__(None, None, None)
                self._record_result(pyfuncitem, path)
                return value

            wrapped = wrapper

        pyfuncitem.obj = wrapped
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> _HookWrapper:
        outcome = yield
        if call.when != "call":
            return
        report = outcome.get_result()
        if report.when != "call" or report.outcome != "passed":
            return
        grown = self._grown_past_baseline(item.nodeid)
        if grown is not None:
            report.outcome = "failed"
            report.longrepr = grown
            report.sections.append(("memray-compare", grown))
            outcome.force_result(report)
            return
        for marker in item.iter_markers():
            check = MARKERS.get(marker.name)
            result = self.results.get(item.nodeid)
            if check is None or result is None:
                continue
            failure = check(*marker.args, **marker.kwargs, _result_file=result.result_file,
                            _config=self.config, _test_id=item.nodeid)
            if failure:
                report.outcome = "failed"
                report.longrepr = failure.long_repr
                if failure.section is not None:
                    report.sections.append(failure.section)
                outcome.force_result(report)

    def _grown_past_baseline(self, test_id: str) -> Optional[str]:
        """With --memray-compare: why the test failed, if its peak grew past the allowed
        growth over its baseline."""
        if self.baseline is None or test_id not in self.baseline:
            return None
        result = self.results.get(test_id)
        if result is None:
            return None
        base = int(self.baseline[test_id]["peak_memory"])
        new = result.metadata.peak_memory
        if not _grew_past(self.max_growth, base, new):
            return None
        kind, limit = self.max_growth
        allowed = f"{limit:g}%" if kind == "%" else sizeof_fmt(limit)
        share = f" (+{(new - base) * 100 / base:.1f}%)" if base else ""
        return (f"Test peak memory grew from {sizeof_fmt(base)} (its baseline) to "
                f"{sizeof_fmt(new)}: +{sizeof_fmt(new - base)}{share}, more than the "
                f"{allowed} allowed")

    def _all_results(self) -> None:
        """Under pytest-xdist the tests ran in the workers, which left their results in the
        result directory: the controller reads them."""
        if self.results:
            return
        for f in sorted(self.metadata_path.glob("*.metadata")):
            result = pickle.loads(f.read_bytes())
            self.results[result.test_id] = result
            self.from_workers = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """--memray-baseline: every test's peak memory and leaked bytes, in one file."""
        if self.baseline_dir is None or hasattr(self.config, "workerinput"):
            return
        self._all_results()
        tests = {
            test_id: {"peak_memory": r.metadata.peak_memory, "leaked_bytes": r.leaked_bytes}
            for test_id, r in sorted(self.results.items())
        }
        doc = {"schema": "memray-baseline/1", "tests": tests}
        (self.baseline_dir / BASELINE_FILE).write_text(json.dumps(doc, indent=1) + "\n")

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> _HookWrapper:
        outcome = yield
        if report.when == "call" and report.outcome == "failed":
            if any("memray" in name for name, _ in report.sections):
                outcome.force_result(("failed", "M", "MEMORY PROBLEMS"))

    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: List[pytest.Item]) -> None:
        if sys.version_info >= (3, 13, 3):
            return
        for item in items:
            if any(m.name == "limit_leaked_objects" for m in item.iter_markers()):
                raise pytest.UsageError(
                    "The limit_leaked_objects marker requires Python 3.13.3 or later. "
                    f"Current version: {'.'.join(map(str, sys.version_info[:3]))}"
                )

    # -- the summary ------------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if _setting(self.config, "hide_memray_summary") or not _setting(self.config, "memray"):
            return
        if hasattr(self.config, "workerinput"):
            return  # a pytest-xdist worker: the controller reports
        write = terminalreporter.write_line
        write("")
        terminalreporter.write_sep("=", "MEMRAY REPORT")
        self._all_results()
        peaks = collections.Counter({
            test_id: r.metadata.peak_memory
            for test_id, r in self.results.items() if r.result_file.exists()
        })
        n = _setting(self.config, "most_allocations") or len(peaks)
        from memray import FileReader

        for test_id, _ in peaks.most_common(n):
            with FileReader(self.results[test_id].result_file) as reader:
                records = list(reader.get_high_watermark_allocation_records(merge_threads=True))
                if records:
                    self._write_test(write, test_id, reader.metadata, records)
        if self.from_workers and len(peaks) > 1:
            self._write_workers(write)
        if self.named:
            write(f"Created {len(peaks)} binary dumps at {self.result_path} "
                  f"with prefix {self.bin_prefix}")

    def _write_workers(self, write: Callable[[str], None]) -> None:
        """pytest-xdist: the tests' captures are one capture set (tests in different workers
        ran side by side), whose combined peak is the most memory the tests held at once."""
        from memray import _memray

        results = [r for r in self.results.values() if r.result_file.exists()]
        combined, _ = _memray.combined_peak([str(r.result_file) for r in results])
        pids = {r.metadata.pid for r in results}
        total = sum(r.metadata.peak_memory for r in results)
        write(f"All {len(results)} tests across {len(pids)} xdist workers")
        write("")
        write(f"\t 📦 Combined peak (most memory the tests held at one moment): "
              f"{sizeof_fmt(combined)}")
        write(f"\t ➕ Sum of the tests' peaks: {sizeof_fmt(total)}")
        write("\n")

    @staticmethod
    def _write_test(write: Callable[[str], None], test_id: str, metadata: Metadata,
                    records: List[AllocationRecord]) -> None:
        write(f"Allocation results for {test_id} at the high watermark")
        write("")
        write(f"\t 📦 Total memory allocated: {sizeof_fmt(metadata.peak_memory)}")
        write(f"\t 📏 Total allocations: {metadata.total_allocations}")
        sizes = [r.size for r in records]
        write(f"\t 📊 Histogram of allocation sizes: "
              f"|{cli_hist(sizes, bins=min(len(sizes), N_HISTOGRAM_BINS))}|")
        write("\t 🥇 Biggest allocating functions:")
        for record in sorted(records, key=lambda r: r.size, reverse=True)[:N_TOP_ALLOCS]:
            try:
                stack = record.stack_trace()
            except NotImplementedError:
                continue
            if stack:
                function, filename, lineno = stack[0]
                write(f"\t\t- {function}:{filename}:{lineno} -> {sizeof_fmt(record.size)}")
        write("\n")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_unconfigure(self, config: pytest.Config) -> _HookWrapper:
        yield
        if self._tmp_dir is not None:
            self._tmp_dir.cleanup()


def _tracker(path: Path, native: bool, python_allocators: bool) -> Tracker:
    from memray import FileFormat, Tracker

    return Tracker(path, native_traces=native, trace_python_allocators=python_allocators,
                   file_format=FileFormat.ALL_ALLOCATIONS)


def pytest_configure(config: pytest.Config) -> None:
    if _standing_aside(config.pluginmanager):
        return
    config.pluginmanager.register(Manager(config), "memray_manager")
    for name, check in MARKERS.items():
        args = inspect.getfullargspec(check).args
        config.addinivalue_line("markers", f"{name}({', '.join(args)}): {check.__doc__}")
