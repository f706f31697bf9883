"""Writes the real captures that seed the fuzz corpus (`make fuzz-seeds`) into the folder given:
default, --trace-python-allocators, --native, --aggregate, and one cut short by SIGKILL. Each
tracks only a small region (a few functions allocating known sizes, a named thread, frees), so
the seeds stay small and the fuzzer fast."""

import os
import signal
import sys
import threading

import memray

keep = []


def make(n):
    return [bytearray(1000 + i) for i in range(n)]


def worker():
    keep.append(make(20))


def workload():
    t = threading.Thread(target=worker, name="worker")
    t.start()
    t.join()
    keep.append(make(50))
    del keep[0]
    keep.append({str(i): i for i in range(200)})


def capture(path, **options):
    with memray.Tracker(os.path.join(sys.argv[1], path), **options):
        workload()


def main():
    capture("default.bin")
    capture("tpa.bin", trace_python_allocators=True)
    capture("native.bin", native_traces=True)
    capture("aggregate.bin", file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS)
    pid = os.fork()
    if pid == 0:
        tracker = memray.Tracker(os.path.join(sys.argv[1], "killed.bin"))
        tracker.__enter__()
        workload()
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
