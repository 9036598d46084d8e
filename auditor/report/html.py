"""report.html: one self-contained page for people, safe to open although its content is hostile.

Everything captured (hosts, URLs, excerpts, program output) is attacker-controlled. Three layers
keep it text: jinja2 autoescaping; a finalize hook that passes every printed string through
view.printable (bidi overrides and control characters shown as escapes, never obeyed); and a
Content-Security-Policy that forbids scripts and every external load even if markup slipped
through. Captured URLs are never links.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from ..audit import Audit
from ..findings import RULES, SEVERITIES, Finding
from . import view

FILENAME = "report.html"
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; "
       "form-action 'none'")


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
        "scenario": f.scenario, "variant": f.variant, "runs": view.runs_text(f, 400), "step": f.step,
        "host": f.host, "url": f.url,
        "flow": f.flow, "detail": f.detail, "baselined": f.baselined,
        "failing": view.is_failing(audit, f), "has_evidence": ev is not None,
        "location": ev.location if ev else "", "layers": list(ev.layers) if ev else [],
        "match": ev.match if ev else "", "form": ev.form if ev else "",
        "excerpt": ev.excerpt if ev else "", "detector": ev.detector if ev else "",
    }


def _matrix(audit: Audit) -> list[dict]:
    """Per scenario, one row per run: did telemetry leave, and what did it cost.

    Telemetry in the granted variant is expected, so only there a "yes" is not shown as bad."""
    out = []
    for s in view.scenario_names(audit):
        rows = []
        for r in view.runs_of(audit, s):
            mine = [f for f in view.findings_of_run(audit, s, r.name) if not f.baselined]
            rows.append({
                "run": r, "sent": r.telemetry_requests > 0,
                "counts": {sv: sum(f.severity == sv for f in mine) for sv in SEVERITIES},
                "consent_rules": list(dict.fromkeys(f.rule for f in mine if f.rule.startswith("CONSENT-"))),
                "failing": sum(view.is_failing(audit, f) for f in mine),
            })
        out.append({"name": s, "rows": rows})
    return out


def context(audit: Audit) -> dict:
    findings = [_finding(audit, f) for f in view.sorted_findings(audit.findings)]
    return {
        "audit": audit,
        "csp": CSP,
        "verdict": view.verdict(audit),
        "summary": view.summary(audit),
        "severities": SEVERITIES,
        "scenarios": view.scenario_names(audit),
        "problems": view.all_problems(audit),
        "concerns": [{"name": c, "question": q, "findings": [f for f in findings if f["concern"] == c]}
                     for c, q in view.CONCERNS.items()],
        "matrix": _matrix(audit),
        "endpoints": [{"e": e, "variants": view.sorted_variants(e.variants)}
                      for e in sorted(audit.endpoints, key=view.endpoint_key)],
        "runs": [r for s in view.scenario_names(audit) for r in view.runs_of(audit, s)],
        "findings": findings,
    }


def text(audit: Audit) -> str:
    return _ENV.get_template("report.html.j2").render(context(audit))


def render(audit: Audit, out: Path) -> Path:
    return view.write_text(out / FILENAME, text(audit))
