"""Accuracy of sampled captures (`--sample-every`) against full ones, on the same program.

For each program: a full capture and a sampled one (fixed seed, fixed hash seed, so a run can
be repeated); compared are the peak, the bytes leaked, and the top locations (function, file,
line of the innermost frame) by bytes live at the peak. Prints one JSON object per program, or
a Markdown table with --markdown. `bench/run.py` (the "sampling" section) and
tests/test_sampling.py use `compare`.

    python bench/sampling_accuracy.py --memray .venv/bin/memray [--rate 524288] [--seed 1]
        [--mode default|trace-python-allocators] PROGRAM.py...
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path


def capture(memray, program, out, extra, args=(), env=None):
    env = dict(os.environ if env is None else env, PYTHONHASHSEED="0")
    program = Path(program).resolve()
    subprocess.run([str(memray), "run", "-q", "-f", "-o", str(out), *extra, str(program), *args],
                   check=True, env=env, stdout=subprocess.DEVNULL, cwd=Path(program).parent)
    return out


def figures(path, top=10):
    """Peak, leaked bytes and the top locations at the peak, read with memray's FileReader."""
    from memray import FileReader

    r = FileReader(str(path))
    at_peak = Counter()
    for rec in r.get_high_watermark_allocation_records(merge_threads=True):
        frames = rec.stack_trace(max_stacks=1)
        at_peak[frames[0] if frames else ("???", "???", 0)] += rec.size
    leaked = sum(rec.size for rec in r.get_leaked_allocation_records(merge_threads=True))
    return {
        "peak": r.metadata.peak_memory,
        "leaked": leaked,
        "top": [loc for loc, _ in at_peak.most_common(top)],
        "at_peak": at_peak,
        "size": os.path.getsize(path),
        "sample_every": r.metadata.sample_every,
    }


def rel(a, b):
    return abs(a - b) / b if b else (0.0 if a == b else math.inf)


def compare(memray, program, rate, seed=1, extra=(), args=(), workdir=None, top=10):
    """Full vs sampled capture of `program`: the errors and the sizes."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        full = figures(capture(memray, program, Path(tmp) / "full.bin", list(extra), args), top)
        sampled = figures(capture(memray, program, Path(tmp) / "sampled.bin",
                                  [*extra, "--sample-every", str(rate), "--sample-seed",
                                   str(seed)], args), top)
    return {
        "program": Path(program).name,
        "rate": rate,
        "peak_full": full["peak"],
        "peak_sampled": sampled["peak"],
        "peak_error": rel(sampled["peak"], full["peak"]),
        "leaked_full": full["leaked"],
        "leaked_sampled": sampled["leaked"],
        "leaked_error": rel(sampled["leaked"], full["leaked"]),
        "top_full": full["top"],
        "top_sampled": sampled["top"],
        "same_top": set(full["top"]) == set(sampled["top"]),
        "top_shared": len(set(full["top"]) & set(sampled["top"])),
        "peak_over_rate": full["peak"] / rate,
        "size_full": full["size"],
        "size_sampled": sampled["size"],
        "smaller": full["size"] / max(1, sampled["size"]),
        "expected_error": math.sqrt(rate / full["peak"]) if full["peak"] else 1.0,
    }


def markdown(rows):
    out = ["| program | peak/rate | peak full | peak sampled | peak error | leaked full | "
           "leaked sampled | leaked error | top-10 at peak shared | capture full | capture "
           "sampled | smaller |",
           "|---|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|---:|"]
    for r in rows:
        out.append(
            f"| {r['program']} | {r['peak_over_rate']:.0f} | {r['peak_full']:,} | "
            f"{r['peak_sampled']:,} | {100 * r['peak_error']:.2f}% | {r['leaked_full']:,} | "
            f"{r['leaked_sampled']:,} | {100 * r['leaked_error']:.2f}% | "
            f"{r['top_shared']}/{len(r['top_full'])} | {r['size_full']:,} B | "
            f"{r['size_sampled']:,} B | {r['smaller']:.0f}× |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--memray", required=True)
    p.add_argument("--rate", type=int, default=512 * 1024)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mode", choices=["default", "trace-python-allocators"], default="default")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("programs", nargs="+")
    a = p.parse_args()
    extra = ["--trace-python-allocators"] if a.mode == "trace-python-allocators" else []
    rows = []
    for prog in a.programs:
        args = ["1m"] if Path(prog).name == "bigtrace.py" else []
        r = compare(a.memray, prog, a.rate, a.seed, extra, args)
        rows.append(r)
        if not a.markdown:
            print(json.dumps({k: v for k, v in r.items() if not k.startswith("top_")}), flush=True)
    if a.markdown:
        print(markdown(rows))


if __name__ == "__main__":
    sys.exit(main())
