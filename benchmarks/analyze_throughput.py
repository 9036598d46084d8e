"""`egress-audit analyze` throughput on synthetic captures, beside the `.mitm` read floors.

    .venv/bin/python benchmarks/analyze_throughput.py [--flows 10000,100000] [--data DIR]

For each size, a capture of telemetry posts (benchmarks/synthetic_capture.py, written once with
mitmproxy's FlowWriter into --data) is measured, each row in a fresh process, side by side:

  read floor, mitmproxy   io.FlowReader(...).stream() over the file, nothing else
  read floor, fast reader auditor.mitmfile.exchanges (what analysis reads with)
  analyze, 1 core         egress-audit analyze --jobs 1, pinned to one CPU
  analyze, N cores        egress-audit analyze --jobs auto on every usable CPU

with wall time, CPU time (user + system of the process and its workers: on a busy machine it
shows what parallelism costs, where wall time only shows the contention), flows/s, MB/s of
capture and the peak memory of the whole process tree (the sum
of the resident sizes of the process and its workers, sampled every 50 ms). The analysis looks
for the canary values in the identity file written beside the capture. Load averages are printed:
the machine may be shared; compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic_capture import ensure  # noqa: E402

READ_MITMPROXY = ("import sys\nfrom mitmproxy import io\nn = 0\nwith open(sys.argv[1], 'rb') as fo:\n"
                  "    for f in io.FlowReader(fo).stream():\n        n += 1\nprint(n)\n")
READ_FAST = ("import sys\nfrom pathlib import Path\nfrom auditor import mitmfile\n"
             "print(sum(1 for _ in mitmfile.exchanges(Path(sys.argv[1]))))\n")


def tree(pid: int) -> tuple[int, dict[int, int]]:
    """Resident bytes of pid and all its descendants, and each one's CPU clock ticks so far."""
    total, ticks, todo = 0, {}, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fo:
                total += next(int(l.split()[1]) for l in fo if l.startswith("VmRSS:")) * 1024
            with open(f"/proc/{p}/stat") as fo:
                fields = fo.read().rsplit(")", 1)[1].split()
            ticks[p] = int(fields[11]) + int(fields[12])  # utime + stime
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fo:
                    todo += [int(c) for c in fo.read().split()]
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return total, ticks


def measure(argv: list[str], cpus: set[int] | None) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system of the process and every worker, sampled every
    50 ms: worker processes are not always waited for, so rusage would miss them), peak tree RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    peak, cpu = [0], {}

    def sample():
        while proc.poll() is None:
            rss, ticks = tree(proc.pid)
            peak[0] = max(peak[0], rss)
            cpu.update(ticks)
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    t.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:4])}… failed ({proc.returncode}): {err[-2000:]}")
    return elapsed, sum(cpu.values()) / os.sysconf("SC_CLK_TCK"), peak[0], out.strip()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", default="10000,100000")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "egress-bench-captures")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    cpus = sorted(os.sched_getaffinity(0))
    py = sys.executable
    print(f"python {sys.version.split()[0]}; usable cores: {len(cpus)}; load average before: {load()}")
    print(f"{'':<34}{'flows':>8}{'MB':>7}{'wall s':>8}{'cpu s':>7}{'flows/s':>9}{'MB/s':>7}{'peak MB':>9}")
    speedups = []
    for n in (int(x) for x in args.flows.split(",")):
        cap = ensure(args.data / f"telemetry-{n}.mitm", n)
        ident = cap.with_name(cap.stem + ".identity.yaml")
        mb = cap.stat().st_size / 1e6
        out = Path(tempfile.mkdtemp(prefix="egress-bench-out-"))
        analyze = [py, "-m", "auditor", "analyze", str(cap), "--identity", str(ident), "--format", "json",
                   "--fail-on", "never", "--out", str(out)]
        rows = [("read floor, mitmproxy", [py, "-c", READ_MITMPROXY, str(cap)], {cpus[0]}),
                ("read floor, fast reader", [py, "-c", READ_FAST, str(cap)], {cpus[0]}),
                ("analyze --jobs 1, 1 core", [*analyze, "--jobs", "1"], {cpus[0]}),
                (f"analyze --jobs auto, {len(cpus)} cores", [*analyze, "--jobs", "auto"], None)]
        walls = {}
        for label, argv, pin in rows:
            wall, cpu, peak, _ = measure(argv, pin)
            walls[label] = wall
            print(f"  {label:<32}{n:>8}{mb:>7.0f}{wall:>8.1f}{cpu:>7.1f}{n / wall:>9.0f}{mb / wall:>7.1f}"
                  f"{peak / 1e6:>9.0f}   load {load()}", flush=True)
        speedups.append((n, walls["analyze --jobs 1, 1 core"] / walls[f"analyze --jobs auto, {len(cpus)} cores"]))
    for n, s in speedups:
        print(f"speed-up of analyze, {len(cpus)} cores over 1, {n} flows: {s:.2f}x")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
