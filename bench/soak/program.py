"""The tracked program of `make soak`: 8 threads allocating and freeing for DURATION seconds,
and a child process forked every FORK_EVERY seconds (tracked with --follow-fork). Each keeps its
own accounting of what it allocated at the marked line and writes it to ACCOUNTING.<pid>.json,
which the soak driver compares with the capture.

usage: program.py DURATION ACCOUNTING
"""

import json
import os
import sys
import threading
import time

THREADS = 8
# Sizes served by malloc (not pymalloc), so the default mode records each one.
SIZES = (1024, 2048, 3000, 4096, 6000, 8192, 12000, 16384)
BURST = 200
PAUSE = 0.01
FORK_EVERY = float(os.environ.get("SOAK_FORK_EVERY", "60"))
CHILD_SECONDS = 5.0


def allocate(size):
    return bytearray(size)  # the counted line: one malloc of size + 1 bytes


def level_a(size, keep):
    keep.append(allocate(size))


def level_b(size, keep):
    level_a(size, keep)


def work(index, until, counts):
    """Allocates bursts of blocks through a few call paths, keeping the last 500 alive."""
    keep = []
    paths = (level_a, level_b)
    n = 0
    total = 0
    i = 0
    while time.monotonic() < until:
        for _ in range(BURST):
            size = SIZES[(i + index) % len(SIZES)]
            paths[i % 2](size, keep)
            n += 1
            total += size + 1
            i += 1
            if len(keep) > 500:
                del keep[:250]
        time.sleep(PAUSE)
    counts[index] = (n, total)


def run_threads(seconds):
    until = time.monotonic() + seconds
    counts = {}
    threads = [
        threading.Thread(target=work, args=(i, until, counts), name=f"soak-{i}")
        for i in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "allocations": sum(n for n, _ in counts.values()),
        "bytes": sum(b for _, b in counts.values()),
    }


def write_accounting(path, figures):
    with open(f"{path}.{os.getpid()}.json", "w") as f:
        json.dump(figures, f)


def main():
    duration = float(sys.argv[1])
    accounting = sys.argv[2]
    start = time.monotonic()
    children = []

    def forker():
        while time.monotonic() - start + CHILD_SECONDS < duration:
            time.sleep(FORK_EVERY)
            pid = os.fork()
            if pid == 0:
                figures = run_threads(CHILD_SECONDS)
                write_accounting(accounting, figures)
                os._exit(0)
            children.append(pid)
            os.waitpid(pid, 0)

    f = threading.Thread(target=forker, name="forker", daemon=True)
    f.start()
    figures = run_threads(duration)
    f.join(timeout=CHILD_SECONDS * 3)
    figures["children"] = children
    write_accounting(accounting, figures)


if __name__ == "__main__":
    main()
