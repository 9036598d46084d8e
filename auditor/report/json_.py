"""findings.json (SPEC §6): the machine-readable audit.

Key order is fixed and lists are sorted, so two audits of the same traffic diff cleanly and
`egress-audit diff` can compare files written by different versions of this module.

schema_version 2: finding ids no longer depend on the variant or the planted canary values, and
a finding seen in several runs is one finding listing them in `variants`. A version 1 file is
upgraded by re-rendering its audit directory (`egress-audit report OUT`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..audit import Audit, RunSummary
from . import view

FILENAME = "findings.json"
SCHEMA_VERSION = 2


def _run(run: RunSummary, out: Path) -> dict:
    return {
        "name": run.name,
        "variant": run.variant,
        "capture": run.capture,
        "coverage": list(run.coverage),
        "coverage_note": run.coverage_note,
        "isolation": run.isolation,
        "flows": run.flows,
        "exit_codes": list(run.exit_codes),
        "complete": run.complete,
        "problems": list(run.problems),
        "notice_seen": run.notice_seen,
        "telemetry_requests": run.telemetry_requests,
        "dir": view.run_dir(run, out),
    }


def document(audit: Audit, out: Path) -> dict:
    """The findings.json document as a plain dict (also what `diff` and tests compare)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "egress-auditor", "version": audit.tool_version},
        "created": audit.created,
        "complete": audit.complete,
        "exit_code": audit.exit_code,
        "fail_on": audit.fail_on,
        "capture": audit.capture,
        "summary": view.summary(audit),
        "problems": list(audit.problems),
        "notes": list(audit.notes),
        "scenarios": [{"name": s, "variants": [_run(r, out) for r in view.runs_of(audit, s)]}
                      for s in view.scenario_names(audit)],
        "endpoints": [{"host": e.host, "class": e.cls, "confidence": e.confidence, "evidence": list(e.evidence),
                       "action": e.action, "variants": view.sorted_variants(e.variants), "requests": e.requests,
                       "dns_lookups": e.lookups, "connections": e.connections,
                       "ports": [{"scheme": s, "port": p, "forwarded": (s, p) in e.forwarded}
                                 for s, p in e.ports],
                       "by_request": [{"scenario": c.scenario, "request": c.key, "class": c.cls,
                                       "confidence": c.confidence,
                                       "evidence": list(c.evidence), "runs": view.sorted_variants(c.runs),
                                       "requests": c.requests} for c in e.by_request]}
                      for e in sorted(audit.endpoints, key=lambda e: (e.host, e.cls))],
        "findings": [f.to_json() for f in view.sorted_findings(audit.findings)],
    }


def render(audit: Audit, out: Path) -> Path:
    text = json.dumps(document(audit, out), indent=2, ensure_ascii=False) + "\n"
    # A lone surrogate (undecodable captured bytes) cannot be UTF-8; backslashreplace turns it
    # into the JSON escape \udcXX, which keeps the file valid and the value faithful.
    return view.write_text(out / FILENAME, text, errors="backslashreplace")
