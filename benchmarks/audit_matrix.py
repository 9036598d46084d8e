"""A real Python install: bare steps beside the audit of one variant and of a 5-variant matrix.

    .venv/bin/python benchmarks/audit_matrix.py [--packages "pandas requests rich"] [--rounds 1]
                                                [--extra jobs1,nocache]

The steps create a venv in the work dir and pip-install the package set from pip's configured
index (local find-links and extra file indexes switched off, so every file comes over the
network; the index host is whatever `@pip-index` resolves to here). Timed side by side in one run:

  bare          the same steps in a fresh HOME and work dir, no capture, no sandbox
  audit 1       `egress-audit run --variants unset`, cold download cache
  audit 5       `egress-audit run --variants unset,denied,dnt,granted,ci` (--jobs auto), cold cache
  extra rows    the matrix with --jobs 1 (`jobs1`) or --cache off (`nocache`), to show what each part saves

Each audit runs the full pipeline (sandbox, capture, analysis, reports). CPU time (user + system of
every process a row started, mitmdump and the program included) shows what an audit costs beside
the bare steps even when the wall time is distorted by other load. Load averages are printed:
the machine may be shared, so compare rows of one run, not runs made at different load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.sandbox.mitm import system_trust_store  # noqa: E402

CLI = [sys.executable, "-m", "auditor"]
# Files come from pip's own default index only: no config files (local wheel directories, extra
# file:// indexes), no find-links. The same command runs bare and in the audit.
STEPS = ("unset PIP_FIND_LINKS; export PIP_CONFIG_FILE=/dev/null PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1; "
         "python3 -m venv .venv && .venv/bin/python -m pip install -q {packages}")
MATRIX = "unset,denied,dnt,granted,ci"


def scenario(packages: str) -> str:
    return f"""schema_version: 1
name: pip-install
description: venv + pip install of a package set from the configured index
steps:
  - name: install
    run: {json.dumps(STEPS.format(packages=packages))}
    timeout: 900
consent:
  denied: {{env: {{PIP_NO_COLOR: "1"}}}}
  granted: {{env: {{PIP_PROGRESS_BAR: "off"}}}}
variants: [{MATRIX.replace(",", ", ")}]
network:
  allow: ["@pip-index"]
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bare(packages: str, workdir: Path) -> float:
    home, work = workdir / "home", workdir / "work"
    home.mkdir(parents=True)
    work.mkdir()
    # The audit hands pip the system CAs plus its own; bare, pip gets the system CAs (as this
    # machine's pip configuration does, which the steps switch off).
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TMPDIR": str(workdir),
           "PYTHONDONTWRITEBYTECODE": "1", "PIP_CERT": system_trust_store() or ""}
    for var in ("PYENV_ROOT", "PYENV_VERSION"):
        if var in os.environ:
            env[var] = os.environ[var]
    if "PYENV_ROOT" not in env and (Path.home() / ".pyenv").is_dir():
        env["PYENV_ROOT"] = str(Path.home() / ".pyenv")  # as the runner passes it
    start = time.perf_counter()
    r = subprocess.run(["bash", "-c", STEPS.format(packages=packages)], cwd=work, env=env,
                       capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    if r.returncode:
        raise SystemExit(f"bare run failed: {r.stderr[-1500:]}")
    return elapsed


def audit(sc: Path, workdir: Path, variants: str, extra: list[str]) -> tuple[float, str]:
    args = [*CLI, "run", str(sc), "--variants", variants, "--out", str(workdir / "out"), "--fail-on", "never",
            "--cache", str(workdir / "cache"), *extra]
    start = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if r.returncode not in (0, 1):
        raise SystemExit(f"audit failed ({r.returncode}): {r.stderr[-2500:]}")
    first = r.stderr.splitlines()[0] if r.stderr else ""
    return elapsed, first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packages", default="pandas requests rich")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--extra", default="", help="comma list of extra rows: jobs1, nocache")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="egress-bench-"))
    sc = base / "pip-install.yaml"
    sc.write_text(scenario(args.packages))
    rows = [("bare (fresh HOME, no capture)", lambda d: (bare(args.packages, d), "")),
            ("audit, 1 variant, cold cache", lambda d: audit(sc, d, "unset", [])),
            ("audit, 5 variants, cold cache", lambda d: audit(sc, d, MATRIX, []))]
    extras = {"jobs1": ("audit, 5 variants, --jobs 1", ["--jobs", "1"]),
              "nocache": ("audit, 5 variants, --cache off", ["--cache", "off"])}
    for name in filter(None, args.extra.split(",")):
        label, extra = extras[name]
        rows.append((label, lambda d, extra=extra: audit(sc, d, MATRIX, extra)))
    print(f"packages: {args.packages}; cores: {len(os.sched_getaffinity(0))}; load average before: {load()}")
    results: dict[str, list[float]] = {}
    try:
        for rnd in range(args.rounds):
            for label, fn in rows:
                d = base / f"r{rnd}-{len(results.get(label, []))}-{label.split(',')[0].split()[0]}-{time.monotonic_ns()}"
                d.mkdir()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                elapsed, note = fn(d)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                results.setdefault(label, []).append(elapsed)
                print(f"  round {rnd + 1}: {label:<36} {elapsed:7.1f} s wall {cpu:7.1f} s cpu  load {load()}  {note}",
                      flush=True)
                shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ref = min(results[rows[0][0]])
    print(f"\n{'':<38}{'best s':>8}{'x bare':>8}")
    for label, times in results.items():
        print(f"  {label:<36}{min(times):>8.1f}{min(times) / ref:>8.2f}")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
