"""`make soak`: runs bench/soak/program.py under `memray run --follow-fork` for DURATION
seconds (30 minutes by default), samples the tracked process's resident set and the capture's
size every INTERVAL seconds, then checks each capture (the parent's and every forked child's)
against the program's own accounting: the allocations at the counted line, their number and
their bytes, must be exactly what the program counted. Writes the figures to
bench/results/soak-python<version>.md and exits 1 when a check fails.

usage: run.py [--duration S] [--interval S] [--work DIR]
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "program.py"
RESULTS = HERE.parent / "results"
BIN = Path(sys.executable).parent


def counted_line() -> int:
    for n, line in enumerate(PROGRAM.read_text().splitlines(), 1):
        if "# the counted line" in line:
            return n
    raise SystemExit("program.py has no counted line")


def status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def stats(capture: Path) -> dict:
    proc = subprocess.run(
        [str(BIN / "memray-stats"), "--json", "-n", "100", str(capture)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"memray-stats failed on {capture}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def at_line(figures: dict, key: str, field: str, line: int) -> int:
    suffix = f":{PROGRAM}:{line}"
    return sum(e[field] for e in figures[key] if e["location"].endswith(suffix))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=1800)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--work", type=Path, default=Path("soak-output"))
    args = ap.parse_args()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    capture = work / "soak.bin"
    accounting = work / "accounting"
    cmd = [
        str(BIN / "memray"),
        "run",
        "--follow-fork",
        "-o",
        str(capture),
        str(PROGRAM),
        str(args.duration),
        str(accounting),
    ]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    while proc.poll() is None:
        elapsed = time.monotonic() - started
        rss = status_kib(proc.pid, "VmRSS")
        if rss:
            st = capture.stat() if capture.exists() else None
            samples.append(
                (
                    elapsed,
                    rss,
                    st.st_size if st else 0,
                    st.st_blocks * 512 if st else 0,
                )
            )
        try:
            proc.wait(timeout=args.interval)
        except subprocess.TimeoutExpired:
            pass
    err = proc.stderr.read()
    failures = []
    if proc.returncode != 0:
        failures.append(f"memray run exited with {proc.returncode}: {err.strip()}")

    line = counted_line()
    rows = []
    for acc in sorted(work.glob("accounting.*.json")):
        pid = int(acc.name.split(".")[1])
        expected = json.loads(acc.read_text())
        path = capture if "children" in expected else work / f"soak.bin.{pid}"
        if not path.exists():
            failures.append(f"no capture for process {pid} ({path.name})")
            continue
        figures = stats(path)
        got_n = at_line(figures, "top_allocations_by_count", "count", line)
        got_b = at_line(figures, "top_allocations_by_size", "size", line)
        ok = (got_n, got_b) == (expected["allocations"], expected["bytes"])
        if not ok:
            failures.append(
                f"{path.name}: the program counted {expected['allocations']} allocations of "
                f"{expected['bytes']} bytes, the capture has {got_n} of {got_b}"
            )
        rows.append((path.name, expected["allocations"], expected["bytes"], got_n, got_b, ok,
                     path.stat().st_size))

    first = [s[1] for s in samples if s[0] <= min(300, args.duration / 6)]
    last = [s[1] for s in samples if s[0] >= args.duration - min(300, args.duration / 6)]
    base = max(first) if first else 0
    end = max(last) if last else 0
    growth = (end - base) / base if base else 0.0
    if growth > 0.10:
        failures.append(f"the resident set grew by {growth:.1%} from the first to the last minutes")

    version = platform.python_version()
    out = RESULTS / f"soak-python{version}.md"
    lines = [
        f"# Soak: {args.duration:.0f} s tracked, 8 threads allocating and freeing, a child forked "
        f"every 60 s (`--follow-fork`), Python {version}",
        "",
        f"Command: `{' '.join(cmd[1:])}` (`make soak`, bench/soak/). Sampled every "
        f"{args.interval:.0f} s.",
        "",
        f"- Resident set of the tracked process: {base / 1024:.1f} MiB at most in the first "
        f"minutes, {end / 1024:.1f} MiB at most in the last ({growth:+.1%}).",
        f"- Result: {'PASS' if not failures else 'FAIL'}",
    ]
    lines += [f"  - {f}" for f in failures]
    lines += [
        "",
        "## Each capture against the program's own accounting (the counted line)",
        "",
        "| capture | program: allocations | program: bytes | capture: allocations | capture: bytes | equal | capture size |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, en, eb, gn, gb, ok, size in rows:
        lines.append(f"| {name} | {en} | {eb} | {gn} | {gb} | {'yes' if ok else 'NO'} | {size} |")
    lines += [
        "",
        "## Over time",
        "",
        "| time (s) | RSS (MiB) | capture size (MiB) | capture on disk (MiB) |",
        "|---:|---:|---:|---:|",
    ]
    step = max(1, len(samples) // 60)
    for t, rss, size, disk in samples[::step]:
        lines.append(f"| {t:.0f} | {rss / 1024:.1f} | {size / 2**20:.1f} | {disk / 2**20:.1f} |")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:8 + len(failures)]))
    print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
