"""The --follow-children benchmark's job: TASKS tasks run by a multiprocessing Pool of WORKERS
processes started by METHOD (fork, spawn or forkserver), or with --serial the same tasks one after
another in this one process. Each task builds, serializes and parses JSON documents and fills a
few buffers: small Python objects and some large blocks, as real pool jobs make.

    python pool_job.py METHOD [--workers N] [--tasks N] [--serial]
"""

import argparse
import json
import multiprocessing
import random


def task(seed):
    rng = random.Random(seed)
    total = 0
    for _ in range(12):
        doc = [{"id": i, "name": "user%d" % i, "score": rng.random(), "tags": ["a", "b%d" % (i % 5)]}
               for i in range(2_500)]
        text = json.dumps(doc)
        total += len(json.loads(text))
        buffers = [bytearray(64 * 1024) for _ in range(16)]
        total += sum(len(b) for b in buffers)
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("method", choices=("fork", "spawn", "forkserver"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--tasks", type=int, default=24)
    p.add_argument("--serial", action="store_true", help="run the tasks in this process")
    args = p.parse_args()
    if args.serial:
        results = [task(seed) for seed in range(args.tasks)]
    else:
        ctx = multiprocessing.get_context(args.method)
        with ctx.Pool(args.workers) as pool:
            results = pool.map(task, range(args.tasks), chunksize=1)
    print(sum(results))


if __name__ == "__main__":
    main()
