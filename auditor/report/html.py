"""report.html: one self-contained page for people, safe to open although its content is hostile.

Laid out around a reviewer's questions, top to bottom: the verdict and the four concerns answered
yes or no with the finding that decides each; the consent grid (variants × endpoints); the
findings, one row per fact with its runs as chips and the evidence once, folded; a timeline per
run; the endpoints; coverage stated once. No JavaScript: folding is <details>, the timeline is
inline SVG, the layout is CSS (phones, print and dark mode included).

Everything captured (hosts, URLs, excerpts, program output) is attacker-controlled. Three layers
keep it text: jinja2 autoescaping; a finalize hook that passes every printed string through
view.printable (bidi overrides and control characters shown as escapes, never obeyed); and a
Content-Security-Policy that forbids scripts and every external load even if markup slipped
through. Captured URLs are never links; captured text never reaches an href, src or style.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from ..audit import Audit, RunSummary
from ..findings import RULES, SEVERITIES, Finding
from . import view

FILENAME = "report.html"
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; "
       "form-action 'none'")
LANE_WIDTH = 1000  # SVG user units of one timeline lane; the lane stretches to the page width


def _finalize(value):
    if isinstance(value, str) and not isinstance(value, Markup):
        return view.printable(value)
    return value


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every template, whatever its file name
    finalize=_finalize,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["clip"] = view.clip


def _finding(audit: Audit, f: Finding) -> dict:
    ev = f.evidence
    return {
        "id": f.id, "rule": f.rule, "rule_title": RULES[f.rule].title, "title": f.title,
        "severity": f.severity, "concern": f.concern, "confidence": f.confidence,
        "scenario": f.scenario, "variant": f.variant, "runs": list(f.runs),
        "step": f.step, "host": f.host, "url": f.url,
        "flow": f.flow, "detail": f.detail, "baselined": f.baselined,
        "failing": view.is_failing(audit, f), "has_evidence": ev is not None,
        "location": ev.location if ev else "", "layers": list(ev.layers) if ev else [],
        "part": ev.location.split(":", 1)[0] if ev and ":" in ev.location else (ev.location if ev else ""),
        "match": ev.match if ev else "", "form": ev.form if ev else "",
        "excerpt": ev.excerpt if ev else "", "detector": ev.detector if ev else "",
        # Line breaks of a pretty-printed payload shown as ↵ rather than as \x0a escapes.
        "context": [c.replace("\r\n", "↵").replace("\n", "↵") for c in ev.context] if ev and ev.context else [],
    }


# --- timeline ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mark:
    kind: str  # data | contact | lookup
    cls: str  # telemetry | functional | unknown
    x: float
    title: str


@dataclass(frozen=True)
class Band:
    x: float
    width: float
    ok: bool
    shade: int  # alternating 0/1, so that neighbouring steps stay apart
    title: str


def _lane(run: RunSummary, scale: float) -> dict:
    """One run drawn in LANE_WIDTH units: steps as bands, the notice as a flag, contacts as ticks."""
    def x(t: float) -> float:
        return round(min(LANE_WIDTH - 3, t * scale), 1)

    bands = []
    for i, s in enumerate(run.steps):
        code = "timed out" if s.exit_code is None else f"exit {s.exit_code}"
        bands.append(Band(x(s.start), max(1.0, round((s.end - s.start) * scale, 1)), s.ok, i % 2,
                          f"step {s.name}: {s.start:.1f}–{s.end:.1f} s, {code}"
                          f"{'' if s.ok else ' (not as the scenario expects)'}"))
    marks = []
    for c in run.contacts:
        kind = "data" if c.payload else ("lookup" if c.kind == "dns" else "contact")
        what = {"data": "sent data", "contact": "no data", "lookup": "DNS lookup"}[kind]
        marks.append(Mark(kind, c.cls, x(c.at), f"{c.at:.2f} s {c.label} → {c.host} ({c.cls}, {what})"))
    notice = None
    if run.notice_at is not None:
        notice = {"x": x(run.notice_at), "title": f"notice printed at {run.notice_at:.2f} s"}
    sent = sum(m.kind == "data" for m in marks)
    return {"run": run, "bands": bands, "marks": marks, "notice": notice,
            "label": f"{run.name}: {len(run.steps)} steps, {sent} requests with data, "
                     f"notice {'at %.1f s' % run.notice_at if run.notice_at is not None else 'not shown'}"}


def _timelines(audit: Audit) -> list[dict]:
    out = []
    for s in view.scenario_names(audit):
        runs = [r for r in view.runs_of(audit, s) if r.steps or r.contacts]
        if not runs:
            continue
        span = max(max(r.duration for r in runs), 0.1)
        scale = (LANE_WIDTH - 4) / span
        ticks = [f"{span * i / 4:.1f} s" for i in range(5)]
        out.append({"name": s, "lanes": [_lane(r, scale) for r in runs], "ticks": ticks})
    return out


# --- the page ---------------------------------------------------------------------------------

def _answers(audit: Audit, findings: dict[str, dict]) -> list[dict]:
    return [{"a": a, "decider": findings.get(a.decider.id) if a.decider else None}
            for a in view.answers(audit)]


def _endpoints(audit: Audit) -> list[dict]:
    runs = {r.name for r in audit.runs}
    return [{"e": e, "variants": view.sorted_variants(e.variants), "of": len(runs)}
            for e in sorted(audit.endpoints, key=view.endpoint_key)]


def context(audit: Audit) -> dict:
    findings = [_finding(audit, f) for f in view.sorted_findings(audit.findings)]
    common, differences = view.coverage(audit)
    return {
        "audit": audit,
        "csp": CSP,
        "verdict": view.verdict(audit),
        "summary": view.summary(audit),
        "severities": SEVERITIES,
        "scenarios": view.scenario_names(audit),
        "problems": view.all_problems(audit),
        "answers": _answers(audit, {f["id"]: f for f in findings}),
        "grids": [view.consent_grid(audit, s) for s in view.scenario_names(audit)],
        "findings": findings,
        "timelines": _timelines(audit),
        "endpoints": _endpoints(audit),
        "coverage": common,
        "differences": differences,
        "runs": [r for s in view.scenario_names(audit) for r in view.runs_of(audit, s)],
    }


def text(audit: Audit) -> str:
    return _ENV.get_template("report.html.j2").render(context(audit))


def render(audit: Audit, out: Path) -> Path:
    return view.write_text(out / FILENAME, text(audit))
