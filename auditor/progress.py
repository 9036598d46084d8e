"""Live progress of an audit on the terminal, driven by the runner's step-boundary events.

On a terminal: a live panel (runs N/M, elapsed time, every running variant with its current step,
step results and flows captured so far). Elsewhere (CI logs): plain lines at each step boundary,
plus a heartbeat while a long step runs. Quiet: nothing.

What it counts it reads from the run directory as it grows (flows.mitm records, output.jsonl
lines, events.jsonl connections), so the runner and the capture addon need no extra hooks. Every
string it prints (scenario and step names, program output, host names) is untrusted: it goes
through view.printable and is printed as rich Text, never interpreted as markup.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .safetext import clip, printable
from . import mitmfile
from .runner import RunPlan
from .scenario import Step
from .variants import consent_for

HEARTBEAT = 30.0  # seconds between "still running" lines in plain mode
TICK = 0.25


class FlowCounter:
    """Counts the flows in a growing flows.mitm without decoding them.

    Each flow is one tnetstring record, so mitmfile.record_end walks them by their length
    prefixes alone; a record still being written is counted next time.
    """

    def __init__(self, path: Path):
        self.path, self.offset, self.count = path, 0, 0

    def poll(self) -> int:
        try:
            fo = open(self.path, "rb")
        except OSError:
            return self.count
        with fo:
            size = fo.seek(0, 2)
            while self.offset < size:
                try:
                    end = mitmfile.record_end(fo, self.offset)
                except mitmfile.RecordError:
                    break  # not a flow file (or damaged here): stop counting, never guess
                if end > size:
                    break
                self.offset, self.count = end, self.count + 1
        return self.count


class LineTail:
    """New complete lines of a growing JSON-lines file."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def poll(self) -> list[dict]:
        try:
            with open(self.path, "rb") as fo:
                fo.seek(self.offset)
                data = fo.read(1 << 20)
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        out = []
        for line in data[:end].splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out


def elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def step_outcome(result: dict) -> tuple[bool, str]:
    """(as the scenario expects, short text) for one step's result from the runner."""
    took = f"{result.get('ended', 0) - result.get('started', 0):.1f} s"
    if result.get("timed_out"):
        return False, f"timed out after {took}"
    code, want = result.get("exit_code"), result.get("expect_exit")
    if want is not None and code != want:
        return False, f"exit {code} (expected {want}), {took}"
    return True, f"exit {code}, {took}"


@dataclass
class _Run:
    number: int
    label: str
    run_dir: Path
    total_steps: int
    started: float = field(default_factory=time.monotonic)
    step: str = ""
    step_no: int = 0
    step_started: float = 0.0
    results: list[tuple[str, bool]] = field(default_factory=list)
    flows: FlowCounter | None = None
    output: LineTail | None = None
    events: LineTail | None = None
    last_beat: float = field(default_factory=time.monotonic)


class Display:
    """runner.RunEvents for the terminal. Use as a context manager around pipeline.execute."""

    def __init__(self, console: Console, total: int, *, live: bool, verbose: bool = False,
                 header: str = ""):
        self.console, self.total, self.verbose, self.header = console, total, verbose, header
        self.live_mode = live
        self.lock = threading.RLock()
        self.active: dict[int, _Run] = {}
        self.started = 0
        self.done = 0
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> "Display":
        if self.live_mode:
            self._live = Live(console=self.console, get_renderable=self._render, refresh_per_second=4,
                              transient=True, redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        self._thread = threading.Thread(target=self._loop, name="egress-audit-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        if self._live:
            self._live.stop()

    def _loop(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self._tick()
            except Exception:  # a display glitch must never end an audit
                pass

    # --- runner.RunEvents -------------------------------------------------------------------
    def run_started(self, plan: RunPlan, run_dir: Path) -> None:
        consent = consent_for(plan.variant, plan.scenario)
        total = len(consent.run if consent else ()) + len(plan.scenario.steps)
        with self.lock:
            self.started += 1
            self.total = max(self.total, self.started)  # identity twins are planned as they become useful
            run = _Run(self.started, f"{plan.scenario.name}/{plan.name}", run_dir, total,
                       flows=FlowCounter(run_dir / "flows.mitm"))
            if self.verbose:
                run.output, run.events = LineTail(run_dir / "output.jsonl"), LineTail(run_dir / "events.jsonl")
            self.active[id(plan)] = run
        if not self.live_mode:
            self._line(run, "started")

    def step_started(self, plan: RunPlan, step: Step) -> None:
        with self.lock:
            run = self.active.get(id(plan))
            if run is None:
                return
            run.step, run.step_no, run.step_started = step.name, run.step_no + 1, time.monotonic()
            run.last_beat = time.monotonic()
        if not self.live_mode:
            self._line(run, f"step {run.step_no}/{run.total_steps} {printable(step.name)} ...")

    def step_ended(self, plan: RunPlan, step: Step, result: dict) -> None:
        ok, text = step_outcome(result)
        with self.lock:
            run = self.active.get(id(plan))
            if run is None:
                return
            run.results.append((step.name, ok))
            flows = run.flows.poll() if run.flows else 0
        if not self.live_mode or not ok or self.verbose:
            self._line(run, f"step {run.step_no}/{run.total_steps} {printable(step.name)}: "
                            f"{'ok' if ok else 'NOT AS EXPECTED'} ({text}), {flows} flows so far",
                       style=None if ok else "yellow")

    def run_ended(self, plan: RunPlan, run_dir: Path) -> None:
        with self.lock:
            run = self.active.pop(id(plan), None)
            self.done += 1
        if run is None:
            return
        self._drain(run)
        try:
            manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {"complete": False, "problems": ["run.json missing or unreadable"]}
        complete = bool(manifest.get("complete"))
        flows = run.flows.poll() if run.flows else 0
        steps = " · ".join(f"{printable(n)} {'ok' if ok else 'FAILED'}" for n, ok in run.results) or "no steps"
        took = elapsed(time.monotonic() - run.started)
        self._line(run, f"{'done' if complete else 'INCOMPLETE'} in {took}: {flows} flows; {steps}",
                   style=None if complete else "bold red", mark="✓" if complete else "✗")
        if not complete:
            for p in manifest.get("problems", [])[:5]:
                self._print(Text(f"      {clip(p, 300)}", style="red"))

    # --- output -----------------------------------------------------------------------------
    def _prefix(self, run: _Run) -> str:
        return f"[{run.number}/{self.total}] {run.label}"

    def _print(self, text: Text) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def _line(self, run: _Run, message: str, style: str | None = None, mark: str = "") -> None:
        head = f"{mark} " if mark and self.live_mode else ""
        self._print(Text(f"{head}{printable(self._prefix(run))}: {message}", style=style or ""))

    def _drain(self, run: _Run) -> None:
        """-v: the program's output and the connections it opened, as they were recorded."""
        if not self.verbose:
            return
        for item in run.output.poll() if run.output else []:
            stream = printable(item.get("stream", ""))
            self._print(Text(f"    {run.label} {stream}> {clip(item.get('text', ''), 300)}", style="dim"))
        for item in run.events.poll() if run.events else []:
            kind = item.get("event")
            if kind in ("upstream", "sinkhole"):
                where = f"{item.get('host', '')}:{item.get('port', '')}"
                self._print(Text(f"    {run.label} connection {clip(where, 200)} → {kind}", style="cyan"))

    def _tick(self) -> None:
        now = time.monotonic()
        with self.lock:
            runs = list(self.active.values())
        for run in runs:
            if run.flows:
                run.flows.poll()
            self._drain(run)
            if not self.live_mode and run.step and now - run.last_beat >= HEARTBEAT:
                run.last_beat = now
                self._line(run, f"still in step {run.step_no}/{run.total_steps} {printable(run.step)} "
                                f"({elapsed(now - run.step_started)}), "
                                f"{run.flows.count if run.flows else 0} flows so far")

    def _render(self) -> Group:
        with self.lock:
            runs = sorted(self.active.values(), key=lambda r: r.number)
            done, started = self.done, self.started
        now = time.monotonic()
        head = Text(f"{self.header} " if self.header else "", style="bold")
        head.append(f"runs {done}/{self.total} done")
        if len(runs) > 1:
            head.append(f", {len(runs)} running")
        head.append(f" · {elapsed(now - self.t0)}", style="dim")
        grid = Table.grid(padding=(0, 2))
        for _ in range(5):
            grid.add_column(no_wrap=True)
        for run in runs:
            steps = Text()
            for name, ok in run.results:
                steps.append(f"{clip(name, 24)} ", style="")
                steps.append("✓ " if ok else "✗ ", style="green" if ok else "red")
            step = (f"step {run.step_no}/{run.total_steps} {clip(run.step, 32)} "
                    f"{elapsed(now - run.step_started)}") if run.step else "starting capture"
            grid.add_row(Text(clip(run.label, 48), style="bold"), Text(step),
                         Text(f"{run.flows.count if run.flows else 0} flows"),
                         Text(elapsed(now - run.started), style="dim"), steps)
        if started < self.total and not runs:
            grid.add_row(Text("…", style="dim"), Text(""), Text(""), Text(""), Text(""))
        return Group(head, grid)
