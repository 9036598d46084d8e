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


def _answers(audit: Audit) -> list[str]:
    rows = []
    for a in view.answers(audit):
        answer = {"yes": "**yes**", "no": "no", "unknown": "not known (incomplete)"}[a.answer]
        f = a.decider
        if f is not None:
            where = f" {code(f.evidence.location, 60)}" if f.evidence else ""
            more = f" (+{a.count - 1} more)" if a.count > 1 else ""
            decides = (f"{f.rule} {RULES[f.rule].title}: {code(f.host, 60)}{where} in "
                       f"{code(', '.join(f.runs), 60)}{more}")
        else:
            decides = f"{a.count} info" if a.count else "none"
        if a.baselined:
            decides += f"; {a.baselined} baselined"
        rows.append([a.concern, a.question, answer, decides])
    return _table(["concern", "question", "answer", "deciding finding"], rows)


def _grid(audit: Audit, scenario: str) -> list[str]:
    g = view.consent_grid(audit, scenario)
    header = ["variant"] + [code(e.host, 50) for e in g.hosts]
    if g.folded:
        header.append(f"{len(g.folded)} other host{'s' * (len(g.folded) != 1)}")
    rows = []
    for row in g.rows:
        cells = [f"**{c.text}**" if c.state == "sent" else c.text for c in row.cells]
        notice = f"{row.run.notice_at:.1f} s" if row.run.notice_at is not None else "none"
        rows.append([code(row.run.name, 40) + ("" if row.run.complete else " (incomplete)"), *cells, notice,
                     ", ".join(row.rules) or "none"])
    return _table(header + ["notice", "consent rules"], rows)


def _findings(audit: Audit) -> list[str]:
    ordered = view.sorted_findings(audit.findings)
    rows = []
    for f in ordered[:MAX_FINDINGS]:
        mark = " (baselined)" if f.baselined else (" **fails**" if view.is_failing(audit, f) else "")
        ev = f.evidence
        field = f"{code(ev.location, 60)} {code(ev.match, 30)}" if ev else "run-level fact"
        if ev and ev.form and ev.form != "plain":
            field += f" as {code(ev.form, 20)}"
        # The rule's own title, not the finding's: a finding title may quote captured text.
        rows.append([f"{f.severity}{mark}", f.rule, RULES[f.rule].title, code(f.host, 60), field,
                     code(", ".join(f.runs), 80), code(ev.excerpt, 30) if ev else ""])
    lines = _table(["severity", "rule", "finding", "endpoint", "field", "runs", "excerpt"], rows)
    if len(ordered) > MAX_FINDINGS:
        lines.insert(-1, f"\n…and {len(ordered) - MAX_FINDINGS} more in `findings.json`.")
    return lines


def _endpoints(audit: Audit) -> list[str]:
    ordered = sorted(audit.endpoints, key=view.endpoint_key)
    rows = [[code(e.host, 80), e.cls, code(e.evidence[0], 120) if e.evidence else "", e.action or "lookup only",
             code(", ".join(view.sorted_variants(e.variants)), 80), str(e.requests), str(e.lookups),
             str(e.connections)] for e in ordered[:MAX_ENDPOINTS]]
    lines = _table(["host", "class", "why", "handling", "runs", "HTTP requests", "DNS lookups", "other flows"], rows)
    if len(ordered) > MAX_ENDPOINTS:
        lines.insert(-1, f"\n…and {len(ordered) - MAX_ENDPOINTS} more in `findings.json`.")
    return lines


def _runs(audit: Audit) -> list[str]:
    rows = []
    for s in view.scenario_names(audit):
        for r in view.runs_of(audit, s):
            steps = ", ".join(f"{code(st.name, 30)} {'timeout' if st.exit_code is None else st.exit_code}"
                              f"{'' if st.ok else ' **not as expected**'} ({st.end - st.start:.1f} s)"
                              for st in r.steps)
            if not steps:
                steps = code(" ".join("timeout" if c is None else str(c) for c in r.exit_codes), 40) or "none"
            rows.append([code(f"{s}/{r.name}", 80), steps, f"{r.duration:.1f} s", str(r.flows),
                         "yes" if r.complete else "**no**"])
    return _table(["run", "steps (exit code, duration)", "duration", "flows", "complete"], rows)


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
    lines += ["### The four questions", ""] + _answers(audit)
    for s in view.scenario_names(audit):
        if view.runs_of(audit, s):
            lines += [f"### Consent grid: {code(s, 60, cell=False)}", ""] + _grid(audit, s)
    if audit.findings:
        lines += ["### Findings", ""] + _findings(audit)
    if audit.endpoints:
        lines += ["### Endpoints", ""] + _endpoints(audit)
    common, differences = view.coverage(audit)
    lines += ["### Coverage", ""]
    if common:
        lines.append(f"{'Most runs' if differences else 'All runs'}: {plain(common, 600)}")
        lines += [f"- {code(name, 80, cell=False)} differs: {plain(t, 600)}" for name, t in differences]
        lines.append("")
    lines += _runs(audit)
    if audit.notes:
        lines += ["### Notes", ""] + [f"- {plain(n)}" for n in audit.notes] + [""]
    lines.append("Details: `report.html`, `findings.json`, `results.sarif`.")
    return "\n".join(lines) + "\n"


def render(audit: Audit, out: Path) -> Path:
    return view.write_text(out / FILENAME, text(audit))
