"""How many allocations a SIGKILL loses: a hot allocation loop (memray._test's MemoryAllocator,
which both profilers track) is killed after about N allocations have returned, under ours and
under Memray 1.20, and each capture is read back with its own profiler's FileReader. Prints one
Markdown table (the results are kept in results/sigkill-python<version>.md).

    python sigkill_loss.py --ours VENV --memray VENV [--after N] [--rounds R] [--churn C]

--churn C makes and frees C small lists after each allocation, tracked with
--trace-python-allocators by both: many more records before the kill (ours then go round the
journal's ring of chunks many times).
"""

import argparse
import mmap
import os
import signal
import statistics
import struct
import subprocess
import tempfile
import time
from pathlib import Path

LOOP = """
import mmap, struct, sys
from memray._test import MemoryAllocator

counter = open(sys.argv[1], "r+b")
done = mmap.mmap(counter.fileno(), 8)
KEEP = MemoryAllocator()
CHURN = int(sys.argv[2])
i = 0
while True:
    KEEP.malloc(100_000 + (i % 50_000))
    i += 1
    struct.pack_into("Q", done, 0, i)
    junk = [[j] for j in range(CHURN)]
"""

COUNT = """
import sys
import memray
with memray.FileReader(sys.argv[1]) as r:
    sizes = [x.size for x in r.get_allocation_records()
             if x.allocator == memray.AllocatorType.MALLOC and 100_000 <= x.size < 150_000]
print(len(sizes) - sizes.index(100_000) if 100_000 in sizes else 0)
"""


def one_run(run_cmd, reader_py, after, churn, workdir):
    script = workdir / "loop.py"
    script.write_text(LOOP)
    counter = workdir / "counter"
    counter.write_bytes(b"\0" * 8)
    out = workdir / "out.bin"
    if out.exists():
        out.unlink()
    flags = ["--trace-python-allocators"] if churn else []
    proc = subprocess.Popen([*run_cmd, "-q", "-f", *flags, "-o", str(out), str(script),
                             str(counter), str(churn)],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(counter, "r+b") as f:
        done = mmap.mmap(f.fileno(), 8)
        deadline = time.monotonic() + 60
        while struct.unpack_from("Q", done, 0)[0] < after and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        completed = struct.unpack_from("Q", done, 0)[0]
    res = subprocess.run([reader_py, "-c", COUNT, str(out)], capture_output=True, text=True)
    recorded = int(res.stdout.strip()) if res.returncode == 0 else 0
    return completed, recorded


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ours", required=True)
    p.add_argument("--memray", required=True)
    p.add_argument("--after", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--churn", type=int, default=0)
    a = p.parse_args()
    ours, memray = Path(a.ours), Path(a.memray)
    who = {
        "ours": ([str(ours / "bin" / "memray"), "run"], str(ours / "bin" / "python")),
        "Memray 1.20": ([str(memray / "bin" / "python"), "-m", "memray", "run"],
                        str(memray / "bin" / "python")),
    }
    extra = (f", {a.churn} small lists made and freed after each, --trace-python-allocators"
             if a.churn else "")
    print(f"### Allocations lost to a SIGKILL (hot loop killed after about {a.after:,} "
          f"allocations{extra})")
    print()
    print("| profiler | allocations returned before the kill (median) | recorded | lost (each run) |")
    print("|---|---:|---:|---|")
    for name, (run_cmd, reader) in who.items():
        rows = []
        for _ in range(a.rounds):
            with tempfile.TemporaryDirectory() as d:
                rows.append(one_run(run_cmd, reader, a.after, a.churn, Path(d)))
        lost = [max(c - r, 0) for c, r in rows]
        print(f"| {name} | {statistics.median(c for c, _ in rows):,.0f} | "
              f"{statistics.median(r for _, r in rows):,.0f} | {', '.join(f'{x:,}' for x in lost)} |")


if __name__ == "__main__":
    main()
