"""Benchmarks ours against Memray 1.20 on the same machine in the same run.

- Tracking overhead: every workload in ../shared/bench/workloads run bare, under Memray and
  under ours, interleaved (bare, Memray, ours, bare, ...), a warm-up round then --rounds rounds;
  median wall time, median ratio to bare, per workload and mode, and the geometric mean.
- Capture size and the tracked program's peak RSS of each run.
- Report speed: time and peak RSS of each report on captures of bigtrace.py (about 10 and 100
  million events under --trace-python-allocators), ours vs Memray's on its own capture; how our
  times scale with the events and with RAYON_NUM_THREADS=1 vs 2.
- Native stacks: report times on captures with 100,000 distinct native stacks
  (bench/native_stacks.py under --native), which every report must symbolize and merge.
- Sampling (--sample-every 512K): overhead against bare and against the full capture, in the
  default and trace-python-allocators modes, capture sizes, and the accuracy of the estimates
  against full captures (bench/sampling_accuracy.py), at 512 KiB and 16 KiB.
- Process trees (--follow-children): a multiprocessing Pool job (bench/pool_job.py) under each
  start method, bare, with only the parent tracked, and with every process tracked, beside the
  same tasks run in one process; Memray's --follow-fork (fork only) for reference.

Writes a Markdown report to stdout and, when every section ran, to results/latest.md
(--sections picks some: `make bench BENCH_ARGS="--sections reports"`); the overhead section
alone goes to results/overhead-python<version>.md, for the interpreter the benchmark ran on
(`make bench PYTHON=/path/to/python3.12 BENCH_ARGS="--sections overhead --modes default
trace-python-allocators"`), the sampling section alone to results/sampling-python<version>.md,
the children section alone to results/children-python<version>.md.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = (HERE.parent.parent / "shared" / "bench" / "workloads").resolve()
if not WORKLOADS.is_dir():
    WORKLOADS = (HERE.parent / ".." / "shared" / "bench" / "workloads").resolve()

MODES = {
    "default": [],
    "trace-python-allocators": ["--trace-python-allocators"],
    "native": ["--native"],
}
WORKLOAD_ARGS = {"bigtrace.py": ["1m"]}
# Report-speed captures: (label, bigtrace.py iterations), about 9.5 events per iteration under
# --trace-python-allocators.
REPORT_CAPTURES = [("10M", 1_053_000), ("100M", 10_530_000)]
SECTIONS = ("overhead", "reports", "native", "sampling", "children")
# The sampling section: the rate its overhead and accuracy are measured at (the rate the README
# recommends), and a finer one at which more workloads have a peak of 200 times the rate.
SAMPLE_EVERY = 512 * 1024
FINE_SAMPLE_EVERY = 16 * 1024
# The children section: the Pool job's size (bench/pool_job.py runs 2 workers by default).
CHILDREN_TASKS = 48


def report_commands(mm, o, cm, co, w, co2=None):
    """{report: (Memray's command or None where Memray 1.20 lacks it, ours)}; `co2`, a second
    capture of the same program, is what `memray diff` compares `co` with."""
    reports = {
        "stats": (mm + ["stats", cm], [o, "stats", co]),
        "stats --json": (
            mm + ["stats", "--json", "-f", "-o", w / "m-stats.json", cm],
            [o, "stats", "--json", "-f", "-o", w / "o-stats.json", co],
        ),
        "summary": (mm + ["summary", cm], [o, "summary", co]),
        # Memray 1.20's tree is an interactive (Textual) program that waits for a key: not timed.
        "tree": (None, [o, "tree", co]),
    }
    for flags in ([], ["--leaks"], ["--temporal"]):
        reports[" ".join(["flamegraph"] + flags)] = (
            mm + ["flamegraph"] + flags + ["-f", "-o", w / "m.html", cm],
            [o, "flamegraph"] + flags + ["-f", "-o", w / "o.html", co],
        )
    reports["table"] = (mm + ["table", "-f", "-o", w / "m.html", cm], [o, "table", "-f", "-o", w / "o.html", co])
    # Memray 1.20's transform knows gprof2dot, csv and speedscope.
    for fmt, ext, memray_has in [("csv", "csv", True), ("gprof2dot", "json", True), ("speedscope", "json", True),
                                 ("folded", "txt", False), ("pprof", "pb.gz", False)]:
        reports["transform " + fmt] = (
            mm + ["transform", fmt, "-f", "-o", w / ("m." + ext), cm] if memray_has else None,
            [o, "transform", fmt, "-f", "-o", w / ("o." + ext), co],
        )
    if co2 is not None:
        # Memray 1.20 has no diff.
        reports["diff --json"] = (None, [o, "diff", "--json", "-f", "-o", w / "o-diff.json", co, co2])
    return reports


def measure_pair(mcmd, ocmd, cwd, rounds, memray_rounds):
    """Runs ours `rounds` times and Memray's command (when there is one) in the first
    `memray_rounds` of them, interleaved; returns ((median s, median peak RSS) of Memray's or
    None, the same of ours)."""
    mt, mr, ot, orr = [], [], [], []
    for i in range(rounds):
        if mcmd is not None and i < memray_rounds:
            t, r = run_measured(mcmd, cwd)
            mt.append(t)
            mr.append(r)
        t, r = run_measured(ocmd, cwd)
        ot.append(t)
        orr.append(r)
    memray = (statistics.median(mt), statistics.median(mr)) if mt else None
    return memray, (statistics.median(ot), statistics.median(orr))


def stats_events(path):
    """The events (allocation and deallocation records) a stats --json document counts."""
    try:
        return json.loads(Path(path).read_text())["metadata"]["total_allocations"]
    except (OSError, ValueError, KeyError):
        return None


def fmt_events(n):
    return "?" if n is None else f"{n / 1e6:.1f}M"


def run_measured(cmd, cwd, env=None, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (wall seconds, peak RSS bytes of the process tree's largest child)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({code}): {stderr[-2000:]}")
    return wall, rusage.ru_maxrss * 1024


def fmt_bytes(n):
    for unit in ["B", "KB", "MB", "GB"]:
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n:.1f} GB"


def geomean(xs):
    xs = [x for x in xs if x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


class Bench:
    def __init__(self, ours, memray, rounds, workdir, only, modes):
        self.modes = modes
        self.ours_py = Path(ours) / "bin" / "python"
        self.ours_memray = Path(ours) / "bin" / "memray"
        self.memray_py = Path(memray) / "bin" / "python"
        self.rounds = rounds
        self.workdir = Path(workdir)
        self.only = only
        self.lines = []

    def out(self, line=""):
        print(line, flush=True)
        self.lines.append(line)

    def versions(self):
        mv = subprocess.run(
            [self.memray_py, "-c", "import memray; print(memray.__version__)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        ov = subprocess.run([self.ours_memray, "--version"], capture_output=True, text=True).stdout.strip()
        cpu = "unknown"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return mv, ov, cpu

    def commands(self, workload, mode):
        script = str(WORKLOADS / workload)
        args = WORKLOAD_ARGS.get(workload, [])
        flags = MODES[mode]
        out_m = self.workdir / f"memray-{workload}-{mode}.bin"
        out_o = self.workdir / f"ours-{workload}-{mode}.bin"
        return {
            "bare": ([self.ours_py, script, *args], None),
            "memray": ([self.memray_py, "-m", "memray", "run", "-q", "-f", *flags, "-o", out_m, script, *args], out_m),
            "ours": ([self.ours_memray, "run", "-q", "-f", *flags, "-o", out_o, script, *args], out_o),
        }

    def overhead(self):
        workloads = sorted(p.name for p in WORKLOADS.glob("*.py"))
        if self.only:
            workloads = [w for w in workloads if w in self.only]
        results = {}
        for mode in self.modes:
            for w in workloads:
                cmds = self.commands(w, mode)
                times = {k: [] for k in cmds}
                rss = {k: [] for k in cmds}
                size = {}
                for rnd in range(self.rounds + 1):
                    for kind, (cmd, out) in cmds.items():
                        if mode != "default" and kind == "bare" and (w, "default") in results:
                            # Bare runs do not depend on the mode: reuse the default mode's.
                            continue
                        wall, peak = run_measured(cmd, cwd=self.workdir)
                        if rnd > 0:
                            times[kind].append(wall)
                            rss[kind].append(peak)
                        if out is not None:
                            size[kind] = out.stat().st_size
                if not times["bare"]:
                    times["bare"] = results[(w, "default")]["times"]["bare"]
                    rss["bare"] = results[(w, "default")]["rss"]["bare"]
                results[(w, mode)] = {"times": times, "rss": rss, "size": size}
                print(f"  measured {w} [{mode}]", file=sys.stderr, flush=True)
        return workloads, results

    def report_overhead(self, workloads, results):
        for mode in self.modes:
            self.out(f"### Tracking overhead: {mode} mode")
            self.out()
            self.out("| workload | bare (s) | Memray (s) | ours (s) | Memray ratio | ours ratio | Memray capture | ours capture | Memray peak RSS | ours peak RSS |")
            self.out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            ratios_m, ratios_o = [], []
            for w in workloads:
                r = results[(w, mode)]
                t = {k: statistics.median(v) for k, v in r["times"].items()}
                rm = statistics.median(m / b for m, b in zip(r["times"]["memray"], r["times"]["bare"]))
                ro = statistics.median(o / b for o, b in zip(r["times"]["ours"], r["times"]["bare"]))
                ratios_m.append(rm)
                ratios_o.append(ro)
                pr = {k: statistics.median(v) for k, v in r["rss"].items()}
                self.out(
                    f"| {w} | {t['bare']:.3f} | {t['memray']:.3f} | {t['ours']:.3f} | {rm:.2f} | {ro:.2f} "
                    f"| {fmt_bytes(r['size']['memray'])} | {fmt_bytes(r['size']['ours'])} "
                    f"| {fmt_bytes(pr['memray'])} | {fmt_bytes(pr['ours'])} |"
                )
            self.out(f"| **geometric mean** | | | | **{geomean(ratios_m):.2f}** | **{geomean(ratios_o):.2f}** | | | | |")
            self.out()

    def sampling(self):
        """Overhead of --sample-every at SAMPLE_EVERY next to the full capture, same run, then
        the accuracy of its estimates."""
        sys.path.insert(0, str(HERE))
        import sampling_accuracy

        workloads = sorted(p.name for p in WORKLOADS.glob("*.py"))
        if self.only:
            workloads = [w for w in workloads if w in self.only]
        rate = ["--sample-every", str(SAMPLE_EVERY), "--sample-seed", "1"]
        for mode in ("default", "trace-python-allocators"):
            flags = MODES[mode]
            self.out(f"### Sampling overhead: {mode} mode, --sample-every {SAMPLE_EVERY}")
            self.out()
            self.out("| workload | bare (s) | full (s) | sampled (s) | full ratio | sampled ratio "
                     "| full capture | sampled capture | smaller |")
            self.out("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            all_r, long_r, full_all, smaller = [], [], [], []
            for w in workloads:
                script = str(WORKLOADS / w)
                args = WORKLOAD_ARGS.get(w, [])
                out_f = self.workdir / f"full-{w}.bin"
                out_s = self.workdir / f"sampled-{w}.bin"
                cmds = {
                    "bare": [self.ours_py, script, *args],
                    "full": [self.ours_memray, "run", "-q", "-f", *flags, "-o", out_f, script,
                             *args],
                    "sampled": [self.ours_memray, "run", "-q", "-f", *flags, *rate, "-o", out_s,
                                script, *args],
                }
                times = {k: [] for k in cmds}
                for rnd in range(self.rounds + 1):
                    for kind, cmd in cmds.items():
                        wall, _ = run_measured(cmd, cwd=self.workdir)
                        if rnd > 0:
                            times[kind].append(wall)
                t = {k: statistics.median(v) for k, v in times.items()}
                rf = statistics.median(f / b for f, b in zip(times["full"], times["bare"]))
                rs = statistics.median(s / b for s, b in zip(times["sampled"], times["bare"]))
                sf, ss = out_f.stat().st_size, out_s.stat().st_size
                all_r.append(rs)
                full_all.append(rf)
                smaller.append(sf / ss)
                if t["bare"] >= 1.0:
                    long_r.append(rs)
                self.out(f"| {w} | {t['bare']:.3f} | {t['full']:.3f} | {t['sampled']:.3f} | "
                         f"{rf:.2f} | {rs:.2f} | {fmt_bytes(sf)} | {fmt_bytes(ss)} | "
                         f"{sf / ss:.0f}× |")
                print(f"  measured {w} [sampling, {mode}]", file=sys.stderr, flush=True)
            self.out(f"| **geometric mean** | | | | **{geomean(full_all):.2f}** | "
                     f"**{geomean(all_r):.2f}** | | | **{geomean(smaller):.0f}×** |")
            self.out(f"| **geometric mean, workloads of 1 s or more bare** | | | | | "
                     f"**{geomean(long_r):.2f}** | | | |")
            self.out()
        for mode, r in (("default", SAMPLE_EVERY), ("trace-python-allocators", SAMPLE_EVERY),
                        ("default", FINE_SAMPLE_EVERY),
                        ("trace-python-allocators", FINE_SAMPLE_EVERY)):
            rows = []
            for w in workloads:
                rows.append(sampling_accuracy.compare(
                    self.ours_memray, WORKLOADS / w, r, 1, MODES[mode],
                    WORKLOAD_ARGS.get(w, []), workdir=self.workdir))
                print(f"  accuracy {w} [{mode}, {r}]", file=sys.stderr, flush=True)
            self.out(f"### Sampling accuracy: {mode} mode, --sample-every {r} --sample-seed 1, "
                     "against a full capture")
            self.out()
            self.out(sampling_accuracy.markdown(rows))
            self.out()

    def children(self):
        """--follow-children on a Pool job: every start method, against the parent alone tracked
        and against the same tasks in one process (what a single-process capture costs)."""
        for mode in ("default", "trace-python-allocators"):
            self.children_mode(mode)

    def children_mode(self, mode):
        script = str(HERE / "pool_job.py")
        tasks = ["--tasks", str(CHILDREN_TASKS)]
        flags = MODES[mode]
        self.out(f"### Process trees: --follow-children on a multiprocessing Pool (bench/pool_job.py), {mode} mode")
        self.out()
        self.out(f"{CHILDREN_TASKS} tasks, each building and parsing JSON documents and filling buffers, over a Pool "
                 "of 2 workers; *serial* runs the same tasks in one process. *parent only*: `memray "
                 "run` without following (the workers untracked); *all*: `--follow-children` (the "
                 "parent, the workers and, for forkserver, the server, each in its own capture). "
                 "For *serial*, both are the one process tracked. Memray 1.20 can follow fork "
                 "children only (`--follow-fork`). Ratios are medians of per-round ratios to the "
                 "bare run of the same row. *captures*: the files of the set and their size; the "
                 "Pool ends its workers with SIGTERM, so each worker leaves its journal (2 MiB of "
                 "ring plus the compressed chunks, all its records: reports say it was cut short).")
        self.out()
        self.out("| job | bare (s) | parent only (s) | all (s) | parent-only ratio | all ratio "
                 "| captures | Memray --follow-fork ratio |")
        self.out("|---|---:|---:|---:|---:|---:|---:|---:|")
        for method in ("fork", "spawn", "forkserver", "serial"):
            job = [script, "fork", "--serial"] if method == "serial" else [script, method]
            out_p = self.workdir / f"children-{method}-parent.bin"
            capset = self.workdir / f"children-{method}"
            out_a = capset / "out.bin"
            follow = [] if method == "serial" else ["--follow-children"]
            cmds = {
                "bare": [self.ours_py, *job, *tasks],
                "parent": [self.ours_memray, "run", "-q", "-f", *flags, "-o", out_p, *job, *tasks],
                "all": [self.ours_memray, "run", "-q", "-f", *flags, *follow, "-o", out_a, *job,
                        *tasks],
            }
            if method == "fork":
                out_m = self.workdir / "children-memray" / "out.bin"
                cmds["memray"] = [self.memray_py, "-m", "memray", "run", "-q", "-f", *flags,
                                  "--follow-fork", "-o", out_m, *job, *tasks]
            times = {k: [] for k in cmds}
            files, size = 0, 0
            for rnd in range(self.rounds + 1):
                for kind, cmd in cmds.items():
                    if kind == "all":
                        shutil.rmtree(capset, ignore_errors=True)
                        capset.mkdir()
                    if kind == "memray":
                        shutil.rmtree(out_m.parent, ignore_errors=True)
                        out_m.parent.mkdir()
                    wall, _ = run_measured(cmd, cwd=self.workdir)
                    if rnd > 0:
                        times[kind].append(wall)
                    if kind == "all":
                        members = list(capset.iterdir())
                        files, size = len(members), sum(m.stat().st_size for m in members)
            t = {k: statistics.median(v) for k, v in times.items()}
            ratio = {k: statistics.median(x / b for x, b in zip(v, times["bare"]))
                     for k, v in times.items()}
            memray = f"{ratio['memray']:.2f}" if "memray" in ratio else "—"
            self.out(f"| {method} | {t['bare']:.3f} | {t['parent']:.3f} | {t['all']:.3f} "
                     f"| {ratio['parent']:.2f} | {ratio['all']:.2f} | {files}, {fmt_bytes(size)} "
                     f"| {memray} |")
            print(f"  measured pool_job.py [{method}, {mode}]", file=sys.stderr, flush=True)
        self.out()

    def report_speed(self):
        """Every report on captures of bigtrace.py with about 10 and 100 million events (allocation
        and deallocation records), ours vs Memray's on its own capture of the same run; then how
        our times scale with the events and with the threads."""
        script = str(WORKLOADS / "bigtrace.py")
        w = self.workdir
        mm, o = [self.memray_py, "-m", "memray"], self.ours_memray
        self.out("### Report speed (bigtrace.py under --trace-python-allocators)")
        self.out()
        self.out("Each report on a capture of about 10 and 100 million events (allocation and deallocation "
                 "records; bigtrace.py N makes about 9.5 events per iteration), ours on ours and Memray's on "
                 "its own capture of the same program. Median of 3 runs (Memray's 100M runs: one). Ours uses "
                 "every core (RAYON_NUM_THREADS unset). Targets: 10x faster than Memray at 100M, stats 20x, "
                 "peak RSS no more than Memray's. \u2014: Memray 1.20 has no such transform, and its tree "
                 "is an interactive program that waits for a key; `diff` compares the capture with a second "
                 "capture of the same run size (Memray has no diff).")
        self.out()
        self.out("| capture (events Memray / ours) | report | Memray (s) | ours (s) | speed-up | Memray peak RSS | ours peak RSS |")
        self.out("|---|---|---:|---:|---:|---:|---:|")
        ours_times = {}
        misses = []
        for label, iterations in REPORT_CAPTURES:
            cm = w / f"memray-bigtrace-{label}.bin"
            co = w / f"ours-bigtrace-{label}.bin"
            run_measured(mm + ["run", "-q", "-f", "--trace-python-allocators", "-o", cm, script, str(iterations)], w)
            run_measured([o, "run", "-q", "-f", "--trace-python-allocators", "-o", co, script, str(iterations)], w)
            co2 = w / f"ours-bigtrace-{label}-again.bin"
            run_measured([o, "run", "-q", "-f", "--trace-python-allocators", "-o", co2, script, str(iterations)], w)
            reports = report_commands(mm, o, cm, co, w, co2)
            rows = []
            for name, (mcmd, ocmd) in reports.items():
                rounds_m = 1 if label == REPORT_CAPTURES[-1][0] else 3
                try:
                    memray, (ours_t, ours_r) = measure_pair(mcmd, ocmd, w, 3, rounds_m)
                except RuntimeError as e:
                    rows.append(f"| {label} | {name} | failed: {str(e).splitlines()[0][:120]} | | | | |")
                    continue
                ours_times[(label, name)] = ours_t
                if memray:
                    mem_t, mem_r = memray
                    rows.append((name, f"{mem_t:.3f}", f"{ours_t:.3f}", f"{mem_t / ours_t:.1f}x", fmt_bytes(mem_r), fmt_bytes(ours_r)))
                    if label == REPORT_CAPTURES[-1][0]:
                        want = 20 if name == "stats" else 10
                        if mem_t / ours_t < want:
                            misses.append(f"{name} at {label}: {mem_t / ours_t:.1f}x (target {want}x)")
                    if ours_r > mem_r:
                        misses.append(f"{name} at {label}: peak RSS {fmt_bytes(ours_r)} > Memray's {fmt_bytes(mem_r)}")
                else:
                    rows.append((name, "—", f"{ours_t:.3f}", "—", "—", fmt_bytes(ours_r)))
            events = f"{label} ({fmt_events(stats_events(w / 'm-stats.json'))} / {fmt_events(stats_events(w / 'o-stats.json'))})"
            for row in rows:
                self.out(row if isinstance(row, str) else f"| {events} | " + " | ".join(row) + " |")
            if label != REPORT_CAPTURES[-1][0]:
                continue
            # Scaling on the largest capture: one worker vs two.
            self.out()
            small, big = REPORT_CAPTURES[0][0], label
            self.out(f"#### Scaling (ours): {small} vs {big} events; RAYON_NUM_THREADS=1 vs 2 on {big}")
            self.out()
            self.out("Linear: 10x the events in at most about 10x the time. Threads: 2 at least 1.6x faster than 1.")
            self.out()
            self.out(f"| report | {small} (s) | {big} (s) | time ratio | 1 thread (s) | 2 threads (s) | 2 vs 1 |")
            self.out("|---|---:|---:|---:|---:|---:|---:|")
            for name, (_, ocmd) in reports.items():
                if (small, name) not in ours_times or (big, name) not in ours_times:
                    continue
                by_threads = {}
                for n in (1, 2):
                    env = dict(os.environ, RAYON_NUM_THREADS=str(n))
                    by_threads[n] = statistics.median(run_measured(ocmd, w, env=env)[0] for _ in range(3))
                t_small, t_big = ours_times[(small, name)], ours_times[(big, name)]
                gain = by_threads[1] / by_threads[2]
                if t_big / t_small > 11:
                    misses.append(f"{name}: {t_big / t_small:.1f}x the time for 10x the events")
                if gain < 1.6:
                    misses.append(f"{name}: 2 threads only {gain:.2f}x faster than 1")
                self.out(f"| {name} | {t_small:.3f} | {t_big:.3f} | {t_big / t_small:.1f}x | {by_threads[1]:.3f} | {by_threads[2]:.3f} | {gain:.2f}x |")
        self.out()
        self.out("Targets missed: " + ("; ".join(misses) if misses else "none") + ".")
        self.out()

    def report_native(self):
        """Report times on a capture with ~100,000 distinct native stacks (bench/native_stacks.py):
        what symbolizing and merging that many stacks costs."""
        script = str(HERE / "native_stacks.py")
        env = dict(os.environ, NATIVE_STACKS_BUILD=str(self.workdir / "native-stacks-build"))
        # Compile the extension once, outside every measurement.
        run_measured([self.ours_py, script, "1"], self.workdir, env=env)
        cm = self.workdir / "memray-native-stacks.bin"
        co = self.workdir / "ours-native-stacks.bin"
        mrun, _ = run_measured([self.memray_py, "-m", "memray", "run", "-q", "-f", "--native", "-o", cm, script], self.workdir, env=env)
        orun, _ = run_measured([self.ours_memray, "run", "-q", "-f", "--native", "-o", co, script], self.workdir, env=env)
        self.out("### Native stacks: 100,000 distinct native stacks (bench/native_stacks.py, --native)")
        self.out()
        self.out(f"Capture: Memray {fmt_bytes(cm.stat().st_size)} in {mrun:.2f} s, ours {fmt_bytes(co.stat().st_size)} in {orun:.2f} s. "
                 "Every report symbolizes the capture's native addresses and merges each stack it shows "
                 "(all 100,000 of them are live at the peak).")
        self.out()
        self.out("| report | Memray (s) | ours (s) | speed-up | Memray peak RSS | ours peak RSS |")
        self.out("|---|---:|---:|---:|---:|---:|")
        w = self.workdir
        reports = report_commands([self.memray_py, "-m", "memray"], self.ours_memray, cm, co, w)
        rounds = max(1, min(self.rounds, 3))
        for name in ("stats", "tree", "flamegraph", "flamegraph --leaks", "table", "transform csv",
                     "transform folded"):
            mcmd, ocmd = reports[name]
            memray, (ours_t, ours_r) = measure_pair(mcmd, ocmd, w, rounds, rounds)
            if memray:
                mem_t, mem_r = memray
                self.out(f"| {name} | {mem_t:.3f} | {ours_t:.3f} | {mem_t / ours_t:.1f}x "
                         f"| {fmt_bytes(mem_r)} | {fmt_bytes(ours_r)} |")
            else:
                self.out(f"| {name} | — | {ours_t:.3f} | — | — | {fmt_bytes(ours_r)} |")
        self.out()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ours", required=True, help="our virtualenv")
    p.add_argument("--memray", required=True, help="Memray 1.20's virtualenv")
    p.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    p.add_argument("--only", nargs="*", help="only these workload files")
    p.add_argument("--no-reports", action="store_true", help="skip the report-speed and native tables")
    p.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES),
                   help="the tracking modes the overhead section measures")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                   help="run only these sections (results/latest.md is written only when all run)")
    args = p.parse_args()
    sections = set(args.sections) - ({"reports", "native"} if args.no_reports else set())
    workdir = Path(tempfile.mkdtemp(prefix="memray-bench-"))
    b = Bench(args.ours, args.memray, args.rounds, workdir, args.only, args.modes)
    mv, ov, cpu = b.versions()
    b.out("## memray (Rust) vs Memray: benchmark results")
    b.out()
    b.out(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    b.out(f"- machine: {platform.node()}, {os.cpu_count()} cores, {cpu}, Linux {platform.release()}")
    b.out(f"- Python {platform.python_version()}; Memray {mv}; ours {ov}")
    b.out(f"- {args.rounds} rounds after a warm-up, runs interleaved; ratios are medians of per-round ratios to the bare run")
    b.out()
    if "overhead" in sections:
        workloads, results = b.overhead()
        b.report_overhead(workloads, results)
    if "reports" in sections:
        b.report_speed()
    if "native" in sections:
        b.report_native()
    if "sampling" in sections:
        b.sampling()
    if "children" in sections:
        b.children()
    shutil.rmtree(workdir, ignore_errors=True)
    (HERE / "results").mkdir(exist_ok=True)
    if sections == set(SECTIONS) and args.modes == list(MODES):
        (HERE / "results" / "latest.md").write_text("\n".join(b.lines) + "\n")
    elif sections == {"overhead"}:
        # The overhead tables of one interpreter version (make bench PYTHON=... BENCH_ARGS=...).
        name = f"overhead-python{platform.python_version()}.md"
        (HERE / "results" / name).write_text("\n".join(b.lines) + "\n")
    elif sections in ({"sampling"}, {"children"}):
        name = f"{next(iter(sections))}-python{platform.python_version()}.md"
        (HERE / "results" / name).write_text("\n".join(b.lines) + "\n")


if __name__ == "__main__":
    main()
