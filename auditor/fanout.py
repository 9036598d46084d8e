"""Per-exchange analysis in worker processes: captures split at record boundaries, facts merged.

The parent cuts every `.mitm` file into byte ranges of whole records (`mitmfile.split`, from the
length prefixes alone) and hands each range to a worker, which reads, decodes and scans its flows
and sends back one small `ExchangeFacts` per exchange: everything the rules need, without the
bodies. Results come back in capture order, so findings are the same as with one process. Memory
stays bounded by the chunks in flight, not by the capture: the parent keeps only facts.

Cross-variant rules (identifier stability, consent differential) need the facts of every run; they
run in the parent, on the merged facts, exactly as before. A run's decoding budget is shared out to
its chunks by size, with an equal share as the floor. Damage is handled as one process would: a
torn or damaged file keeps the flows before the damage (and says so); a worker that dies (memory, a
signal) costs its chunk, whose exchanges are reported as not inspected.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from . import mitmfile
from .decode import Budget
from .identity import Identity
from .rules import ExchangeFacts

CHUNK_BYTES = 4 << 20  # a worker's unit: ~1,500 telemetry posts; its memory is a few times this
INLINE_BYTES = 64 << 20  # smaller inputs are analysed in this process: starting workers costs more


@dataclass(frozen=True)
class Context:
    """What the per-exchange analysis of one run needs besides the exchange."""
    scenario: str
    run: str
    identity: dict | None  # Identity.to_json(), or None: no canary values to look for
    telemetry: tuple[str, ...] = ()  # the scenario's expect.telemetry, expect.functional, network.allow
    functional: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    path: Path
    start: int
    end: int
    context: Context
    share: float  # this chunk's part of its run's budget


@dataclass
class Chunk:
    """What a worker sends back: facts, notes, problems, and where reading stopped if it did."""
    facts: list
    notes: list[str]
    problems: list[str]
    records: int  # whole records read
    damage: str = ""  # the file is damaged in this chunk: nothing after it counts


class SlimFacts(ExchangeFacts):
    """ExchangeFacts without the bodies: what the parent keeps for the rules that run after."""

    def __init__(self, facts: ExchangeFacts):
        ex = facts.ex
        self.payload = facts.has_payload
        if ex.kind in ("http", "websocket", "dns"):
            # Raw stream contents stay: the SEC-004 rules judge tcp/udp bytes in the parent.
            ex = dataclasses.replace(ex, request_body=b"", response_body=b"", messages=())
        super().__init__(**{f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)} | {"ex": ex})

    @property
    def has_payload(self) -> bool:
        return self.payload


def jobs_auto() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# ---- per chunk (in a worker, or in this process) -------------------------------------------------

_matchers: dict[str, object] = {}


def _matcher(identity: dict | None):
    if identity is None:
        return None
    from .detect import Matcher

    key = json.dumps(identity, sort_keys=True)
    if key not in _matchers:
        if len(_matchers) >= 8:  # one per audit identity; a long-lived process analyses many audits
            _matchers.clear()
        _matchers[key] = Matcher(Identity.from_json(identity))
    return _matchers[key]


def facts_of(exchanges: Iterable, ctx: Context, notes: list[str], budget: Budget | None = None) -> list[SlimFacts]:
    from .analysis import Scope, _isolated_facts

    matcher, budget = _matcher(ctx.identity), budget or Budget()
    scope = Scope(ctx.telemetry, ctx.functional, ctx.allowed)
    return [SlimFacts(_isolated_facts(ex, matcher, scope, notes, budget=budget)) for ex in exchanges]


def _budget_share(share: float) -> Budget:
    whole = Budget()
    return Budget(**{f.name: type(getattr(whole, f.name))(getattr(whole, f.name) * share)
                     for f in dataclasses.fields(whole)})


def _work(task: Task, budget: Budget | None = None) -> Chunk:
    ctx = task.context
    chunk = Chunk([], [], [], 0)
    budget = budget or _budget_share(task.share)

    def exchanges():
        for record in mitmfile.records(task.path, task.start, task.end):
            chunk.records += 1
            try:
                ex = mitmfile.exchange(record, ctx.scenario, ctx.run)
            except mitmfile.RecordError:
                chunk.records -= 1
                raise
            except Exception as e:  # read, but not normalisable: that flow alone is lost
                chunk.problems.append(f"{task.path}: a flow at record {chunk.records} not analysed: "
                                      f"{type(e).__name__}: {e}"[:500])
                continue
            if ex is not None:
                yield ex

    try:
        for x in facts_of(_guarded(exchanges(), chunk), ctx, chunk.notes, budget):
            chunk.facts.append(x)
    except OSError as e:
        chunk.damage = f"cannot read: {e.strerror or e}"
    return chunk


def _guarded(exchanges, chunk: Chunk):
    try:
        yield from exchanges
    except mitmfile.RecordError as e:
        chunk.damage = str(e)


# ---- in the parent -----------------------------------------------------------------------------

def analyse(inputs: list[tuple[Path, Context]], jobs: int) -> list[tuple[list[SlimFacts], list[str], list[str]]]:
    """(facts, notes, problems) per input, in input order. jobs 0: one worker per usable core;
    jobs 1 (or small inputs): all in this process. Problems make the run incomplete."""
    jobs = jobs or jobs_auto()
    plans: list[tuple[list[Task], int, str]] = []
    out: list[tuple[list, list, list]] = []
    for path, ctx in inputs:
        problems: list[str] = []
        tasks, n, damage = [], 0, ""
        if path.exists() or path.is_symlink():
            try:
                ranges, n, damage = mitmfile.split(path, CHUNK_BYTES if jobs > 1 else 1 << 62)
            except OSError as e:
                problems.append(f"{path}: cannot read: {e.strerror or e}; none of its flows were analysed")
                ranges = []
            size = sum(b - a for a, b in ranges) or 1
            # A chunk's part of the run's budget: its byte share, but never less than an equal
            # share. Bytes say little about what decoding costs: a run's last chunk may hold only
            # its small telemetry posts after megabytes of package downloads (astro: 13 kB of
            # 125 MB, which left it 2 evidence and 0.06 s). The chunks together get at most twice
            # the run's budget.
            floor = 1 / max(1, len(ranges))
            tasks = [Task(path, a, b, ctx, max((b - a) / size, floor)) for a, b in ranges]
        plans.append((tasks, n, damage))
        out.append(([], [], problems))
    all_tasks = [t for tasks, _, _ in plans for t in tasks]
    inline = jobs <= 1 or sum(t.end - t.start for t in all_tasks) < INLINE_BYTES
    chunks = iter(_inline(plans) if inline else _pooled(all_tasks, jobs))
    for (path, _), (tasks, n, damage), (facts, notes, problems) in zip(inputs, plans, out):
        read = 0
        for i, t in enumerate(tasks):
            c = next(chunks)
            facts += c.facts
            notes += c.notes
            problems += c.problems
            read += c.records
            if c.damage:
                damage = c.damage
                for _ in tasks[i + 1:]:
                    next(chunks)  # one process would have stopped reading here
                break
        if damage:
            problems.append(f"{path}: damaged or torn after {read} whole flow(s): {damage}"[:400]
                            + "; the flows before it are kept, the rest is lost")
    return out


def _inline(plans) -> Iterable[Chunk]:
    for tasks, _, _ in plans:
        budget = Budget()  # one per run, as the whole run is read here
        for t in tasks:
            yield _work(t, budget)


def _pooled(tasks: list[Task], jobs: int, work=_work) -> Iterable[Chunk]:
    # forkserver: workers start from a clean process, not a fork of one that may hold threads.
    context = multiprocessing.get_context("forkserver")
    i = 0
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(work, t) for t in tasks]
        try:
            for i, fut in enumerate(futures):
                yield fut.result()
            return
        except BrokenProcessPool:
            pass
    # A worker died (out of memory, a signal) and took the pool with it. Which chunk killed it is
    # unknown: the chunks not yet delivered run again one at a time, and only a chunk that kills
    # its own worker is lost.
    for t in tasks[i:]:
        with ProcessPoolExecutor(1, mp_context=context) as solo:
            try:
                yield solo.submit(work, t).result()
            except BrokenProcessPool:
                yield _dead(t)


def _dead(task: Task) -> Chunk:
    """The chunk whose worker died: its exchanges, each not inspected (SEC-004, run incomplete)."""
    why = "the worker process analysing this part of the capture died (out of memory or killed)"
    chunk = Chunk([], [], [f"{task.path}: bytes {task.start}-{task.end}: {why}"], 0)
    for ex in _guarded(mitmfile.exchanges(task.path, task.context.scenario, task.context.run,
                                          task.start, task.end), chunk):
        chunk.records += 1
        chunk.facts.append(SlimFacts(ExchangeFacts(ex, "undeclared", "", [], uninspected=(why,))))
    return chunk
