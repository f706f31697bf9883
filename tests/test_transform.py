"""``memray transform`` and ``memray parse`` on a real program profiled with ``memray run``, each
export read back by the tool it is made for:

- csv by Python's csv module, its rows equal to ``FileReader``'s and its totals to
  ``memray-stats --json``;
- gprof2dot by gprof2dot itself (its JSON parser for exact costs, its command line for dot);
- speedscope validated against the JSON schema shipped in the ``speedscope`` npm package;
- folded summed line by line (inferno renders it in tools/tests/memray-transform.rs);
- pprof decoded by two independent decoders: the ``protobuf`` package (with profile.proto's
  messages declared below) and the ``pprof-format`` npm package.

The npm packages come from ``make node-tools`` (tests/.node, or $MEMRAY_TEST_NODE_MODULES).
"""

import csv
import gzip
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import gprof2dot
import jsonschema
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import memray

from conftest import BIN, PYTHON, REPO, assert_ok, child_env, marks, memray_run, program, \
    run, stats_json, write

NODE_MODULES = Path(os.environ.get("MEMRAY_TEST_NODE_MODULES", REPO / "tests" / ".node" /
                                   "node_modules"))

PROGRAM = """
import threading

KEEP = []


def big():
    KEEP.append(bytearray(7_000_000))  # @big


def temp():
    x = bytearray(3_000_000)  # @temp
    del x


def worker():
    KEEP.append(bytearray(2_000_000))  # @worker


def main():
    big()  # @call_big
    temp()  # @call_temp
    t = threading.Thread(target=worker, name="exporter")
    t.start()
    t.join()


main()  # @call_main
"""

BIG, TEMP, WORKER = 7_000_001, 3_000_001, 2_000_001


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    d = tmp_path_factory.mktemp("transform")
    prog = write(d / "prog.py", PROGRAM)
    assert_ok(memray_run(["-q", "-o", "cap.bin", "prog.py"], cwd=d))
    return d / "cap.bin"


def transform(fmt, cap, *extra, text=True):
    """``memray-transform FMT [EXTRA] CAP`` with stdout a pipe: the data."""
    proc = subprocess.run([program("memray-transform"), fmt, *extra, str(cap)],
                          env=child_env(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b"", proc.stderr.decode()
    return proc.stdout.decode() if text else proc.stdout


def csv_rows(cap, *extra):
    text = transform("csv", cap, *extra)
    assert text.endswith("\r\n")  # Python's csv.writer line ends, as Memray writes them
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["allocator", "num_allocations", "size", "tid", "thread_name",
                      "stack_trace"]
    return rows


def frames(stack_field):
    """``func;file;line|…`` → [(func, basename of file, line)], innermost first."""
    out = []
    for frame in filter(None, stack_field.split("|")):
        func, file, line = frame.rsplit(";", 2)
        out.append((func, os.path.basename(file), int(line)))
    return out


def leaf(row):
    f = frames(row[5])
    return f[0] if f else None


def reader_records(cap, view, **kw):
    """FileReader's merged records of a view: (allocator name, count, size, tid, thread label,
    stack) — what the csv rows must be."""
    with memray.FileReader(cap) as r:
        records = {
            "peak": r.get_high_watermark_allocation_records,
            "leaks": r.get_leaked_allocation_records,
            "temporary": r.get_temporary_allocation_records,
        }[view](merge_threads=True, **kw)
        out = []
        for rec in records:
            name = rec.thread_name
            label = f"{hex(rec.tid)} ({name})" if name else hex(rec.tid)
            stack = "|".join(f"{f};{file};{line}" for f, file, line in rec.stack_trace())
            out.append([memray.AllocatorType(rec.allocator).name, str(rec.n_allocations),
                        str(rec.size), str(rec.tid), label, stack])
    return out


# --- csv ------------------------------------------------------------------------------------

def test_csv_rows_are_the_readers_records_and_add_up_to_the_peak(capture):
    m = marks(capture.parent / "prog.py")
    rows = csv_rows(capture)
    assert rows == reader_records(capture, "peak")
    doc, _ = stats_json(capture)
    assert sum(int(r[2]) for r in rows) == doc["metadata"]["peak_memory"]
    by_leaf = {leaf(r): r for r in rows}
    # The peak is while big() and temp()'s blocks are both alive.
    assert int(by_leaf[("big", "prog.py", m["big"])][2]) == BIG
    assert int(by_leaf[("temp", "prog.py", m["temp"])][2]) == TEMP
    big_row = by_leaf[("big", "prog.py", m["big"])]
    assert frames(big_row[5])[:3] == [("big", "prog.py", m["big"]),
                                      ("main", "prog.py", m["call_big"]),
                                      ("<module>", "prog.py", m["call_main"])]
    assert big_row[0] == "MALLOC" and big_row[1] == "1"


def test_csv_leaks_and_temporary_allocations(capture):
    m = marks(capture.parent / "prog.py")
    leaks = csv_rows(capture, "--leaks")
    assert leaks == reader_records(capture, "leaks")
    by_leaf = {leaf(r): r for r in leaks}
    assert int(by_leaf[("big", "prog.py", m["big"])][2]) == BIG
    worker = by_leaf[("worker", "prog.py", m["worker"])]
    assert int(worker[2]) == WORKER
    assert worker[4] == f"{hex(int(worker[3]))} (exporter)"
    assert ("temp", "prog.py", m["temp"]) not in by_leaf

    temporary = csv_rows(capture, "--temporary-allocations")
    assert temporary == reader_records(capture, "temporary", threshold=1)
    by_leaf = {leaf(r): r for r in temporary}
    assert int(by_leaf[("temp", "prog.py", m["temp"])][2]) == TEMP
    assert ("big", "prog.py", m["big"]) not in by_leaf


# --- gprof2dot ------------------------------------------------------------------------------

def test_gprof2dot_reads_it_and_the_costs_add_up(capture, tmp_path):
    text = transform("gprof2dot", capture)
    rows = csv_rows(capture)
    with_stack = [r for r in rows if r[5]]
    profile = gprof2dot.JsonParser(io.StringIO(text)).parse()
    assert profile[gprof2dot.SAMPLES] == sum(int(r[2]) for r in with_stack)
    # Self cost of each function = the bytes of the rows whose innermost frame it is.
    expected = {}
    for r in with_stack:
        func, file, _ = r[5].split("|")[0].rsplit(";", 2)
        expected[(func, file)] = expected.get((func, file), 0) + int(r[2])
    got = {(f.name, f.module): f[gprof2dot.SAMPLES] for f in profile.functions.values()
           if f[gprof2dot.SAMPLES]}
    assert got == expected

    out = tmp_path / "g.json"
    out.write_text(text)
    gprof2dot_cli = shutil.which("gprof2dot", path=str(BIN)) or shutil.which("gprof2dot")
    cmd = [gprof2dot_cli] if gprof2dot_cli else [PYTHON, "-m", "gprof2dot"]
    proc = run([*cmd, "-f", "json", "--node-thres=0", "--edge-thres=0", out])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("digraph {"), proc.stdout[:200]
    assert '"big"' in proc.stdout or "big" in proc.stdout


# --- speedscope -----------------------------------------------------------------------------

def speedscope_schema():
    path = NODE_MODULES / "speedscope" / "dist" / "release" / "file-format-schema.json"
    assert path.is_file(), f"{path} is missing: run `make node-tools`"
    return json.loads(path.read_text())


def test_speedscope_validates_against_its_schema(capture):
    schema = speedscope_schema()
    for extra in ((), ("--leaks",), ("--temporary-allocations",)):
        doc = json.loads(transform("speedscope", capture, *extra))
        jsonschema.Draft7Validator(schema).validate(doc)
        rows = [r for r in csv_rows(capture, *extra) if r[5]]
        memory, allocations = doc["profiles"]
        assert memory["endValue"] == sum(memory["weights"]) == sum(int(r[2]) for r in rows)
        assert allocations["endValue"] == sum(int(r[1]) for r in rows)
        for p in doc["profiles"]:
            assert len(p["samples"]) == len(p["weights"])
            for s in p["samples"]:
                assert all(0 <= i < len(doc["shared"]["frames"]) for i in s)
    # A broken document is rejected, so the schema really checks something.
    doc["profiles"][0]["type"] = "bogus"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(doc)


# --- folded ---------------------------------------------------------------------------------

def folded_total(text):
    total = 0
    for line in text.splitlines():
        stack, count = line.rsplit(" ", 1)
        assert stack and ";;" not in stack
        total += int(count)
    return total


def test_folded_adds_up_and_pipes(capture):
    m = marks(capture.parent / "prog.py")
    doc, _ = stats_json(capture)
    text = transform("folded", capture)
    assert folded_total(text) == doc["metadata"]["peak_memory"]
    assert f"main (prog.py:{m['call_big']});big (prog.py:{m['big']}) {BIG}" in text
    # cat X | memray-transform folded - | sort: a pipeline, stdin to stdout.
    proc = subprocess.run(
        f"cat {capture} | memray-transform folded - | sort", shell=True, env=child_env(),
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "".join(sorted(text.splitlines(keepends=True)))
    leaks = transform("folded", capture, "--leaks")
    with memray.FileReader(capture) as r:
        leaked = sum(rec.size for rec in r.get_leaked_allocation_records())
    assert folded_total(leaks) == leaked


def test_stats_reads_stdin(capture):
    proc = subprocess.run(f"memray-stats --json -n 100000 - < {capture}", shell=True, env=child_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == stats_json(capture)[0]


# --- pprof ----------------------------------------------------------------------------------

# profile.proto (github.com/google/pprof/proto/profile.proto), declared field by field.
T = descriptor_pb2.FieldDescriptorProto
PROFILE_PROTO = {
    "Profile": [
        ("sample_type", 1, T.TYPE_MESSAGE, True, "ValueType"),
        ("sample", 2, T.TYPE_MESSAGE, True, "Sample"),
        ("mapping", 3, T.TYPE_MESSAGE, True, "Mapping"),
        ("location", 4, T.TYPE_MESSAGE, True, "Location"),
        ("function", 5, T.TYPE_MESSAGE, True, "Function"),
        ("string_table", 6, T.TYPE_STRING, True, None),
        ("drop_frames", 7, T.TYPE_INT64, False, None),
        ("keep_frames", 8, T.TYPE_INT64, False, None),
        ("time_nanos", 9, T.TYPE_INT64, False, None),
        ("duration_nanos", 10, T.TYPE_INT64, False, None),
        ("period_type", 11, T.TYPE_MESSAGE, False, "ValueType"),
        ("period", 12, T.TYPE_INT64, False, None),
        ("comment", 13, T.TYPE_INT64, True, None),
        ("default_sample_type", 14, T.TYPE_INT64, False, None),
    ],
    "ValueType": [("type", 1, T.TYPE_INT64, False, None), ("unit", 2, T.TYPE_INT64, False, None)],
    "Sample": [
        ("location_id", 1, T.TYPE_UINT64, True, None),
        ("value", 2, T.TYPE_INT64, True, None),
        ("label", 3, T.TYPE_MESSAGE, True, "Label"),
    ],
    "Label": [("key", 1, T.TYPE_INT64, False, None), ("str", 2, T.TYPE_INT64, False, None),
              ("num", 3, T.TYPE_INT64, False, None), ("num_unit", 4, T.TYPE_INT64, False, None)],
    "Mapping": [
        ("id", 1, T.TYPE_UINT64, False, None), ("memory_start", 2, T.TYPE_UINT64, False, None),
        ("memory_limit", 3, T.TYPE_UINT64, False, None),
        ("file_offset", 4, T.TYPE_UINT64, False, None),
        ("filename", 5, T.TYPE_INT64, False, None), ("build_id", 6, T.TYPE_INT64, False, None),
        ("has_functions", 7, T.TYPE_BOOL, False, None),
        ("has_filenames", 8, T.TYPE_BOOL, False, None),
        ("has_line_numbers", 9, T.TYPE_BOOL, False, None),
        ("has_inline_frames", 10, T.TYPE_BOOL, False, None),
    ],
    "Location": [
        ("id", 1, T.TYPE_UINT64, False, None), ("mapping_id", 2, T.TYPE_UINT64, False, None),
        ("address", 3, T.TYPE_UINT64, False, None), ("line", 4, T.TYPE_MESSAGE, True, "Line"),
        ("is_folded", 5, T.TYPE_BOOL, False, None),
    ],
    "Line": [("function_id", 1, T.TYPE_UINT64, False, None), ("line", 2, T.TYPE_INT64, False, None),
             ("column", 3, T.TYPE_INT64, False, None)],
    "Function": [
        ("id", 1, T.TYPE_UINT64, False, None), ("name", 2, T.TYPE_INT64, False, None),
        ("system_name", 3, T.TYPE_INT64, False, None), ("filename", 4, T.TYPE_INT64, False, None),
        ("start_line", 5, T.TYPE_INT64, False, None),
    ],
}


def profile_class():
    fdp = descriptor_pb2.FileDescriptorProto(name="profile.proto", package="perftools.profiles",
                                             syntax="proto3")
    for name, fields in PROFILE_PROTO.items():
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, repeated, type_name in fields:
            f = msg.field.add(name=fname, number=number, type=ftype,
                              label=T.LABEL_REPEATED if repeated else T.LABEL_OPTIONAL)
            if type_name:
                f.type_name = f".perftools.profiles.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


def test_pprof_decodes_with_protobuf_and_adds_up(capture):
    m = marks(capture.parent / "prog.py")
    data = transform("pprof", capture, text=False)
    p = profile_class()()
    p.ParseFromString(gzip.decompress(data))
    st = p.string_table
    assert st[0] == ""
    assert [(st[t.type], st[t.unit]) for t in p.sample_type] == [("inuse_space", "bytes"),
                                                                 ("inuse_objects", "count")]
    doc, _ = stats_json(capture)
    assert sum(s.value[0] for s in p.sample) == doc["metadata"]["peak_memory"]
    rows = csv_rows(capture)
    assert sum(s.value[1] for s in p.sample) == sum(int(r[1]) for r in rows)
    locations = {loc.id: loc for loc in p.location}
    functions = {f.id: f for f in p.function}

    def stack(sample):
        out = []
        for lid in sample.location_id:
            line = locations[lid].line[0]
            f = functions[line.function_id]
            out.append((st[f.name], os.path.basename(st[f.filename]), line.line))
        return out

    big = [s for s in p.sample if stack(s)[:1] == [("big", "prog.py", m["big"])]]
    assert [s.value[0] for s in big] == [BIG]
    assert stack(big[0])[1] == ("main", "prog.py", m["call_big"])
    # Every sample is labelled with its thread; the worker's with its name too.
    for s in p.sample:
        assert [st[lab.key] for lab in s.label][:1] == ["thread_id"]
    leaks = profile_class()()
    leaks.ParseFromString(gzip.decompress(transform("pprof", capture, "--leaks", text=False)))
    names = {leaks.string_table[lab.str] for s in leaks.sample for lab in s.label
             if leaks.string_table[lab.key] == "thread_name"}
    assert "exporter" in names


NODE_DECODER = r"""
const { Profile } = require(process.argv[2] + '/pprof-format');
const zlib = require('zlib');
const p = Profile.decode(zlib.gunzipSync(require('fs').readFileSync(0)));
const s = (i) => p.stringTable.strings[Number(i)];
console.log(JSON.stringify({
  types: p.sampleType.map(t => [s(t.type), s(t.unit)]),
  bytes: p.sample.reduce((a, x) => a + Number(x.value[0]), 0),
  count: p.sample.reduce((a, x) => a + Number(x.value[1]), 0),
  leaves: p.sample.map(x => {
    const loc = p.location.find(l => Number(l.id) === Number(x.locationId[0]));
    const f = p.function.find(f => Number(f.id) === Number(loc.line[0].functionId));
    return [s(f.name), Number(loc.line[0].line), Number(x.value[0])];
  }),
}));
"""


def test_pprof_decodes_with_pprof_format(capture, tmp_path):
    assert (NODE_MODULES / "pprof-format").is_dir(), "run `make node-tools`"
    m = marks(capture.parent / "prog.py")
    script = tmp_path / "decode.cjs"
    script.write_text(NODE_DECODER)
    for extra, types in (((), "inuse"), (("--temporary-allocations",), "alloc")):
        data = transform("pprof", capture, *extra, text=False)
        proc = subprocess.run(["node", str(script), str(NODE_MODULES)], input=data,
                              capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        got = json.loads(proc.stdout)
        assert got["types"] == [[f"{types}_space", "bytes"], [f"{types}_objects", "count"]]
        rows = csv_rows(capture, *extra)
        assert got["bytes"] == sum(int(r[2]) for r in rows)
        assert got["count"] == sum(int(r[1]) for r in rows)
        if types == "alloc":
            assert ["temp", m["temp"], TEMP] in got["leaves"]
        else:
            assert ["big", m["big"], BIG] in got["leaves"]


# --- Memray's command line ------------------------------------------------------------------

def test_memray_transform_writes_memrays_default_files(capture, tmp_path):
    cap = tmp_path / "memray-prog.py.1234.bin"
    shutil.copy(capture, cap)
    for fmt, name in (("csv", "memray-csv-prog.py.1234.csv"),
                      ("gprof2dot", "memray-gprof2dot-prog.py.1234.json"),
                      ("speedscope", "memray-speedscope-prog.py.1234.speedscope.json")):
        proc = run([program("memray"), "transform", fmt, cap.name], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"\n\nWrote {name}\n"), proc.stdout
        assert (tmp_path / name).read_bytes() == transform(fmt, cap, text=False)
        proc = run([program("memray"), "transform", fmt, cap.name], cwd=tmp_path)
        assert proc.returncode == 1
        assert proc.stderr.strip().endswith(
            f"File already exists, will not overwrite without --force: {name}")
    # python -m memray transform does the same; -f overwrites.
    proc = run([PYTHON, "-m", "memray", "transform", "csv", "-f", cap.name], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "\n\nWrote memray-csv-prog.py.1234.csv\n"
    proc = run([program("memray"), "transform", "svg", cap.name], cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (1, "Format not supported: svg\n")


def test_parse_prints_every_record(capture):
    proc = subprocess.run([program("memray-parse"), str(capture)], env=child_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("HEADER magic=MEMRAYRS ")
    assert lines[-1].startswith("TRAILER end_time=")
    with memray.FileReader(capture) as r:
        total = r.metadata.total_allocations
        records = list(r.get_allocation_records())
    allocations = [line for line in lines if line.startswith("ALLOCATION ")]
    assert len(allocations) == total == len(records)
    assert [int(line.split(" size=")[1].split()[0]) for line in allocations] == \
        [rec.size for rec in records]
    # Through a pipe, `memray parse` is fine; to a terminal it refuses (tools/tests).
    proc = subprocess.run(f"memray parse {capture} | grep -c '^ALLOCATION '", shell=True,
                          env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == str(total)
