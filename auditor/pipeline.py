"""Plan and execute an audit: scenarios × variants (× repeats) → run directories."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import identity as identity_mod
from . import proctree, runner, watchdog
from .errors import UsageError
from .identity import Identity
from .policy import resolve_allow
from .sandbox import Backend
from .scenario import Scenario
from .variants import resolve


def plan(scenarios: list[Scenario], variant_names: tuple[str, ...], ident: Identity) -> list[runner.RunPlan]:
    plans = []
    for sc in scenarios:
        for v in resolve(variant_names, sc):
            plans.append(runner.RunPlan(sc, v, v.name, ident))
            if v.name == "unset" and sc.repeat > 1:
                # Right after the first run, one reusing its HOME (tells persistent ids from per-run
                # ids), then the other fresh-HOME runs (tell machine fingerprints from HOME-stored ids).
                plans.append(runner.RunPlan(sc, v, f"unset-{sc.repeat + 1}", ident, same_home_as="unset"))
                for n in range(2, sc.repeat + 1):
                    plans.append(runner.RunPlan(sc, v, f"unset-{n}", ident))
    return plans


def shard(plans: list[runner.RunPlan], spec: str | None) -> list[runner.RunPlan]:
    if not spec:
        return plans
    try:
        i, n = (int(x) for x in spec.split("/"))
        assert 1 <= i <= n
    except (ValueError, AssertionError):
        raise UsageError(f"--shard {spec}: expected I/N with 1 <= I <= N, e.g. 2/4") from None
    # Repeats of one scenario stay together: the same-HOME rerun needs its first run's HOME.
    groups: dict[tuple[str, str], list[runner.RunPlan]] = {}
    for p in plans:
        groups.setdefault((p.scenario.name, p.variant.name), []).append(p)
    keys = list(groups)
    return [p for k in keys[i - 1::n] for p in groups[k]]


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C so that every cleanup path runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def execute(plans: list[runner.RunPlan], backend: Backend, out: Path, jobs: int = 1,
            events: runner.RunEvents = runner.NoEvents()) -> list[Path]:
    """Run every plan; return the run directories. Sandboxes are removed afterwards.

    `events` hears of every run and step boundary as it happens (see runner.RunEvents)."""
    proctree.become_subreaper()
    state = Path(tempfile.mkdtemp(prefix="egress-audit-"))
    guard = watchdog.start(state)  # cleans up even if this process is killed outright
    allow_cache: dict[str, list[str]] = {}
    dirs: list[Path] = []

    def one(group: list[runner.RunPlan]) -> list[Path]:
        done = []
        for p in group:
            allow = resolve_allow(p.scenario.allow, allow_cache)
            root = state / "sandbox" / p.scenario.name / (p.same_home_as or p.variant.name)
            if jobs == 1:
                root = state / "sandbox" / "shared"  # the same HOME path in every run, as on a real machine
            d = runner.run(p, backend, out, state, allow, root, events)
            done.append(d)
            events.run_ended(p, d)
        return done

    groups: dict[tuple[str, str], list[runner.RunPlan]] = {}
    for p in plans:
        groups.setdefault((p.scenario.name, p.variant.name), []).append(p)
    try:
        with terminate_as_interrupt():
            if jobs <= 1:
                for g in groups.values():
                    dirs += one(g)
            else:
                pool = ThreadPoolExecutor(max_workers=jobs)
                try:
                    for result in pool.map(one, groups.values()):
                        dirs += result
                except BaseException:
                    runner.CANCEL.set()  # workers kill their steps and clean up at the next check
                    raise
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
                    runner.CANCEL.clear()
    finally:
        shutil.rmtree(state, ignore_errors=True)
        os.close(guard)
    return dirs


def new_identity(seed: int | None) -> Identity:
    ident = identity_mod.generate(seed)
    return Identity.from_json({**ident.to_json(), "real": identity_mod.read_real()})
