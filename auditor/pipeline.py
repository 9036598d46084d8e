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
from . import analysis, proctree, runner, watchdog
from .download_cache import Store
from .errors import UsageError
from .identity import Identity
from .policy import resolve_allow
from .sandbox import Backend
from .sandbox.mitm import CACHE_LINK
from .scenario import Scenario
from .variants import resolve


def plan(scenarios: list[Scenario], variant_names: tuple[str, ...], ident: Identity) -> list[runner.RunPlan]:
    plans = []
    for sc in scenarios:
        for v in resolve(variant_names, sc):
            first = runner.RunPlan(sc, v, v.name, ident)
            plans.append(first)
            if v.base and sc.repeat > 1:
                # Right after the first run, one reusing its HOME (tells persistent ids from per-run
                # ids), then the other fresh-HOME runs (tell machine fingerprints from HOME-stored ids).
                plans.append(runner.RunPlan(sc, v, f"{v.name}-{sc.repeat + 1}", ident, same_home_as=v.name))
                for n in range(2, sc.repeat + 1):
                    plans.append(runner.RunPlan(sc, v, f"{v.name}-{n}", ident))
            if v.base and sc.twins == "always":
                plans += twin_plans(first)
    return plans


def groups_of(plans: list[runner.RunPlan]) -> list[list[runner.RunPlan]]:
    """Runs that must run one after another (a variant's repeats share a HOME); groups run in parallel."""
    groups: dict[tuple[str, str], list[runner.RunPlan]] = {}
    for p in plans:
        groups.setdefault((p.scenario.name, p.variant.name), []).append(p)
    return list(groups.values())


def twin_plans(first: runner.RunPlan) -> list[runner.RunPlan]:
    """Extra base runs that each change one part of the identity (machine, user, project)."""
    return [runner.RunPlan(first.scenario, first.variant, f"{first.name}-twin-{part}",
                           identity_mod.twin(first.identity, part), twin=part)
            for part in identity_mod.TWIN_PARTS]


def _with_twins(group: list[runner.RunPlan], done: list[Path]) -> Iterator[runner.RunPlan]:
    """The group's plans; for a base group whose scenario says `twins: auto`, then the twin runs,
    when the first run sent an identifier-like value to an undeclared destination (only then is
    there anything to attribute)."""
    yield from group
    first = group[0]
    if (first.variant.base and first.scenario.twins == "auto" and not any(p.twin for p in group)
            and done and analysis.sends_identifiers(done[0])):
        yield from twin_plans(first)


def shard(plans: list[runner.RunPlan], spec: str | None) -> list[runner.RunPlan]:
    if not spec:
        return plans
    try:
        i, n = (int(x) for x in spec.split("/"))
        assert 1 <= i <= n
    except (ValueError, AssertionError):
        raise UsageError(f"--shard {spec}: expected I/N with 1 <= I <= N, e.g. 2/4") from None
    # Repeats of one scenario stay together: the same-HOME rerun needs its first run's HOME.
    return [p for g in groups_of(plans)[i - 1::n] for p in g]


# What one run may need: mitmdump (~150 MB with large downloads buffered) plus the program under
# test and its package manager. Generous on purpose: running out of memory costs more than a job.
RUN_MEMORY = 1 << 30
CACHE_MAX_BYTES = 10 << 30  # the download cache is pruned to this size before each audit


def auto_jobs(groups: int) -> int:
    """--jobs auto: one run per usable core, as many as memory allows, never more than there are."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(groups, cores, _available_memory() // RUN_MEMORY))


def _available_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fo:
            for line in fo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return RUN_MEMORY  # unknown: memory does not limit


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
            events: runner.RunEvents = runner.NoEvents(), cache: Path | None = None) -> list[Path]:
    """Run every plan; return the run directories. Sandboxes are removed afterwards.

    `events` hears of every run and step boundary as it happens (see runner.RunEvents).
    cache: the download cache directory shared with other audits (None: every download is live)."""
    proctree.become_subreaper()
    state = Path(tempfile.mkdtemp(prefix="egress-audit-"))
    guard = watchdog.start(state)  # cleans up even if this process is killed outright
    if cache is not None:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        Store(cache).prune(CACHE_MAX_BYTES)
        (state / CACHE_LINK).symlink_to(cache.resolve(), target_is_directory=True)
    allow_cache: dict[str, list[str]] = {}
    dirs: list[Path] = []

    def one(group: list[runner.RunPlan]) -> list[Path]:
        done = []
        for p in _with_twins(group, done):
            allow = resolve_allow(p.scenario.allow, allow_cache)
            root = state / "sandbox" / p.scenario.name / (p.same_home_as or p.variant.name)
            if jobs == 1:
                root = state / "sandbox" / "shared"  # the same HOME path in every run, as on a real machine
            d = runner.run(p, backend, out, state, allow, root, events)
            done.append(d)
            events.run_ended(p, d)
        return done

    groups = groups_of(plans)
    try:
        with terminate_as_interrupt():
            if jobs <= 1:
                for g in groups:
                    dirs += one(g)
            else:
                pool = ThreadPoolExecutor(max_workers=jobs)
                try:
                    for result in pool.map(one, groups):
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
