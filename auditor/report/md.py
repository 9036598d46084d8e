"""summary.md: a short GitHub-flavoured Markdown summary, made for $GITHUB_STEP_SUMMARY.

Captured values go into code spans: GitHub renders raw HTML and autolinks bare URLs in Markdown,
and a code span is the one place it does neither, so a hostile host name cannot become an image
beacon or a link. The file stays far below the 1 MiB step-summary limit by capping long tables.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..audit import Audit
from ..findings import RULES, SEVERITIES
from . import view

FILENAME = "summary.md"
MAX_FINDINGS = 50
MAX_ENDPOINTS = 50
ICON = {"pass": "✅", "fail": "❌", "findings": "🔎", "incomplete": "⚠️"}


def code(value: object, limit: int = 120, cell: bool = True) -> str:
    """Captured text as an inline code span, safe in a table cell (cell=True) or in prose."""
    s = view.clip(value, limit)
    if not s:
        return ""
    if cell:
        # GFM splits table cells before parsing code spans, so a pipe must be escaped even here.
        s = s.replace("|", "\\|")
    fence = "`" * (_longest_backtick_run(s) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or s.startswith(" ") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~<>-])")


def plain(value: object, limit: int = 300) -> str:
    """The auditor's own prose (coverage notes, notes) as Markdown text: markup characters are
    escaped so a host name quoted in a note cannot open a tag or a link."""
    s = view.clip(value, limit).replace("&", "&amp;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def _longest_backtick_run(s: str) -> int:
    best = run = 0
    for c in s:
        run = run + 1 if c == "`" else 0
        best = max(best, run)
    return best


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def _by_concern(audit: Audit) -> list[str]:
    counted = audit.counted()
    rows = []
    for concern in view.CONCERNS:
        mine = [f for f in counted if f.concern == concern]
        base = sum(f.baselined and f.concern == concern for f in audit.findings)
        rows.append([concern] + [str(sum(f.severity == s for f in mine) or "·") for s in SEVERITIES]
                    + [str(base or "·")])
    return _table(["concern", *SEVERITIES, "baselined"], rows)


def _findings(audit: Audit) -> list[str]:
    ordered = view.sorted_findings(audit.findings)
    rows = []
    for f in ordered[:MAX_FINDINGS]:
        mark = " (baselined)" if f.baselined else (" **fails**" if view.is_failing(audit, f) else "")
        where = code(f.evidence.location, 60) if f.evidence else ""
        excerpt = code(f.evidence.excerpt, 40) if f.evidence else ""
        # The rule's own title, not the finding's: a finding title may quote captured text.
        rows.append([f"{f.severity}{mark}", f.rule, RULES[f.rule].title,
                     code(f"{f.scenario}: {', '.join(f.runs)}", 80), code(f.host, 60), where, excerpt])
    lines = _table(["severity", "rule", "finding", "runs", "host", "where", "excerpt"], rows)
    if len(ordered) > MAX_FINDINGS:
        lines.insert(-1, f"\n…and {len(ordered) - MAX_FINDINGS} more in `findings.json`.")
    return lines


def _variants(audit: Audit) -> list[str]:
    rows = []
    for s in view.scenario_names(audit):
        for r in view.runs_of(audit, s):
            mine = view.findings_of_run(audit, s, r.name)
            sev = ", ".join(f"{n} {sv}" for sv in SEVERITIES
                            if (n := sum(f.severity == sv and not f.baselined for f in mine)))
            telemetry = f"yes ({r.telemetry_requests})" if r.telemetry_requests else "no"
            if not r.complete and not r.telemetry_requests:
                telemetry = "unknown (capture incomplete)"
            rows.append([code(s, 60), code(r.name, 40), telemetry,
                         "yes" if r.notice_seen else "no", str(r.flows),
                         code(" ".join("timeout" if c is None else str(c) for c in r.exit_codes), 40),
                         sev or "none", "yes" if r.complete else "**no**"])
    return _table(["scenario", "run", "telemetry sent", "notice seen", "flows", "exit codes",
                   "findings", "complete"], rows)


def _endpoints(audit: Audit) -> list[str]:
    ordered = sorted(audit.endpoints, key=view.endpoint_key)
    rows = [[code(e.host, 80), e.cls, e.action or "?", code(", ".join(view.sorted_variants(e.variants)), 80),
             str(e.requests)] for e in ordered[:MAX_ENDPOINTS]]
    lines = _table(["host", "class", "action", "variants", "requests"], rows)
    if len(ordered) > MAX_ENDPOINTS:
        lines.insert(-1, f"\n…and {len(ordered) - MAX_ENDPOINTS} more in `findings.json`.")
    return lines


def text(audit: Audit) -> str:
    v = view.verdict(audit)
    scenarios = ", ".join(code(s, 60) for s in view.scenario_names(audit)) or "none"
    lines = [f"## egress-audit: {ICON[v.state]} {v.headline}", "",
             f"{v.meaning}. Scenarios: {scenarios}; capture: {code(audit.capture, 20)}; "
             f"fail-on: {audit.fail_on}; egress-auditor {code(audit.tool_version, 20)}; "
             f"{code(audit.created, 40)}.", ""]
    problems = view.all_problems(audit)
    if problems:
        lines += ["### Problems", ""] + [f"- {code(p, 300, cell=False)}" for p in problems] + [""]
    lines += ["### Findings by concern", ""] + _by_concern(audit)
    if audit.findings:
        lines += ["### Findings", ""] + _findings(audit)
    lines += ["### Consent variants", ""] + _variants(audit)
    if audit.endpoints:
        lines += ["### Endpoints", ""] + _endpoints(audit)
    lines += ["### Coverage", ""]
    for s in view.scenario_names(audit):
        for r in view.runs_of(audit, s):
            seen = ", ".join(r.coverage) or "nothing"
            lines.append(f"- {code(f'{s}/{r.name}', 80)} ({code(r.capture, 20)}: {code(seen, 60)}): "
                         f"{plain(r.coverage_note) or 'nothing known to be missed'}")
    lines.append("")
    if audit.notes:
        lines += ["### Notes", ""] + [f"- {plain(n)}" for n in audit.notes] + [""]
    lines.append("Details: `report.html`, `findings.json`, `results.sarif`.")
    return "\n".join(lines) + "\n"


def render(audit: Audit, out: Path) -> Path:
    return view.write_text(out / FILENAME, text(audit))
