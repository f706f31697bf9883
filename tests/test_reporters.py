"""``memray.reporters``: Memray's reporter classes, rendering any records with the
``memray-flamegraph`` and ``memray-table`` programs."""

import io
import json
import re

import pytest

import memray
from memray.reporters import BaseReporter
from memray.reporters.flamegraph import FlameGraphReporter
from memray.reporters.table import TableReporter

from conftest import listcomp_function, marks, program, run, run_python, write


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    d = tmp_path_factory.mktemp("reporters")
    script = write(d / "prog.py", """
        import sys
        import threading
        import time

        import memray

        def small():
            return [bytearray(100_000) for _ in range(5)]  # @small

        def big():
            return bytearray(7_777_777)  # @big

        def in_thread():
            global held
            held = bytearray(333_333)  # @thread

        with memray.Tracker(sys.argv[1]):
            kept = small()
            kept.append(big())
            worker = threading.Thread(target=in_thread, name="worker")
            worker.start()
            worker.join()
            time.sleep(0.05)
            freed = bytearray(2_222_222)
            del freed
    """)
    run_python(script, "out.bin")
    return d / "out.bin", marks(script)


def page_data(html):
    m = re.search(r'<script type="application/json" id="memray-data">(.*?)</script>', html, re.S)
    assert m, html[:500]
    return json.loads(m.group(1))


def leaves(data):
    """{(function, line): bytes} of the nodes no other node calls."""
    nodes, strings = data["nodes"], data["strings"]
    parents = set(nodes["parent"][1:])
    return {
        (strings[nodes["fn"][i]], nodes["line"][i]): nodes["value"][i]
        for i in range(1, len(nodes["value"])) if i not in parents
    }


def render(cls, records, reader, **options):
    kwargs = dict(show_memory_leaks=False, merge_threads=True, inverted=False)
    kwargs.update(options)
    reporter = cls.from_snapshot(
        records, memory_records=reader.get_memory_snapshots(), native_traces=False
    )
    out = io.StringIO()
    reporter.render(out, reader.metadata, **kwargs)
    return out.getvalue()


def test_the_flame_graph_of_the_peak_is_the_commands(capture, tmp_path):
    path, _ = capture
    with memray.FileReader(path) as reader:
        records = list(reader.get_high_watermark_allocation_records(merge_threads=True))
        ours = page_data(render(FlameGraphReporter, records, reader))
        n_snapshots = len(list(reader.get_memory_snapshots()))
    proc = run([program("memray"), "flamegraph", "-f", "-o", tmp_path / "ref.html", path])
    assert proc.returncode == 0, proc.stderr
    theirs = page_data((tmp_path / "ref.html").read_text())
    assert ours["nodes"]["value"][0] == theirs["nodes"]["value"][0] == sum(r.size for r in records)
    assert leaves(ours) == leaves(theirs)
    for key in ("title", "peak_memory", "pid", "command_line", "threads"):
        assert ours["meta"][key] == theirs["meta"][key], key
    assert len(ours["memory"]) == len(theirs["memory"]) == n_snapshots > 0


def test_any_subset_of_records_and_the_options(capture):
    path, lines = capture
    with memray.FileReader(path) as reader:
        records = list(reader.get_high_watermark_allocation_records(merge_threads=False))
        big = [r for r in records if r.size == 7_777_778]
        assert len(big) == 1
        data = page_data(render(FlameGraphReporter, big, reader))
        assert leaves(data) == {("big", lines["big"]): 7_777_778}

        split = page_data(render(FlameGraphReporter, records, reader, merge_threads=False))
        assert split["meta"]["split_threads"] is True
        assert [name for _, name in split["meta"]["threads"]] == ["MainThread", "worker"]

        leaks = list(reader.get_leaked_allocation_records())
        data = page_data(render(FlameGraphReporter, leaks, reader, show_memory_leaks=True))
        assert "leak" in data["meta"]["title"].lower()
        assert (listcomp_function("small"), lines["small"]) in leaves(data)

        # Inverted: the allocating function is the outermost node.
        for flag, top in ((False, "<module>"), (True, "big")):
            graph = page_data(render(FlameGraphReporter, big, reader, inverted=flag))
            nodes = graph["nodes"]
            assert graph["strings"][nodes["fn"][nodes["parent"].index(0, 1)]] == top

        rows = page_data(render(TableReporter, records, reader, merge_threads=False))["rows"]
        by_location = {row["location"].replace(str(path.parent) + "/", ""): row for row in rows}
        row = by_location[f"big at prog.py:{lines['big']}"]
        assert (row["size"], row["n_allocations"], row["allocator"]) == (7_777_778, 1, "MALLOC")
        assert by_location[f"in_thread at prog.py:{lines['thread']}"]["thread"].endswith("(worker)")
        with pytest.raises(NotImplementedError):
            render(TableReporter, records, reader, inverted=True)


def test_reporters_are_base_reporters():
    reporter: BaseReporter = FlameGraphReporter.from_snapshot(
        [], memory_records=[], native_traces=False
    )
    assert callable(reporter.render)
    assert callable(TableReporter.from_snapshot([], memory_records=[], native_traces=True).render)
