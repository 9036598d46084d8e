"""Analysis time and peak memory on adversarial captures (issue 8): what a few KB of hostile
traffic costs the analysis, measured in a child process with an address-space limit.

    .venv/bin/python benchmarks/hostile_analysis.py [--limit-gb 4] [--timeout 600] [--only NAME]

Each case is a run directory written through mitmproxy's FlowWriter (tests/captures.py); the
child runs `egress-audit report` on it (analysis and every renderer) under RLIMIT_AS and a
wall-clock limit. Printed per case: capture size on disk, exit code, wall time, peak RSS of the
child (from wait4), and how the run ended (exit code, or the limit that killed it).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import captures as C  # noqa: E402


def cases():
    ident = C.IDENTITY
    gz = [("content-type", "application/json"), ("content-encoding", "gzip")]
    yield "gzip-runs-10KB", lambda: [C.http_flow(host="app.example", body=C.gzip_bomb_runs(470), headers=gz)]
    yield "gzip-runs-46KB", lambda: [C.http_flow(host="app.example", body=C.gzip_bomb_runs(2050), headers=gz)]
    yield "query-20x5000", lambda: [C.http_flow(host="app.example", method="GET",
                                                path=C.many_params(5000, ident.email)) for _ in range(20)]
    yield "deep-json-1000", lambda: [C.http_flow(host="app.example", body=C.deep_json(1000))]
    yield "headers-20000", lambda: [C.http_flow(host="app.example", headers=[(f"x-h{i}", "v") for i in range(20000)])]


def measure(root: Path, limit: int, timeout: float) -> tuple[str, float, float]:
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.setsid()

    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "report", str(root)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limits)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            return f"killed after {timeout:g} s", time.perf_counter() - start, usage.ru_maxrss / 1024
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    tail = proc.stderr.read().decode("utf-8", "replace").strip().splitlines()[-1:] if proc.stderr else []
    code = os.waitstatus_to_exitcode(status)
    how = f"exit {code}" + (f" ({tail[0][:70]})" if tail and code not in (0, 1, 3) else "")
    if "MemoryError" in "".join(tail):
        how = f"exit {code} (MemoryError at the limit)"
    return how, elapsed, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit-gb", type=float, default=4)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    print(f"{'case':16} {'capture':>9} {'wall s':>8} {'peak MiB':>9}  result")
    with tempfile.TemporaryDirectory() as tmp:
        for name, flows in cases():
            if a.only and a.only not in name:
                continue
            root = Path(tmp) / name
            C.run_dir(root, flows())
            size = (root / "runs" / "hostile" / "unset" / "flows.mitm").stat().st_size
            how, wall, peak = measure(root, int(a.limit_gb * (1 << 30)), a.timeout)
            print(f"{name:16} {size / 1024:8.0f}K {wall:8.1f} {peak:9.0f}  {how}", flush=True)


if __name__ == "__main__":
    main()
