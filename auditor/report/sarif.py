"""results.sarif: SARIF 2.1.0 for code-scanning dashboards, shaped for GitHub code scanning.

- One SARIF run per scenario, each with its own `automationDetails.id` (`egress-audit/<scenario>/`):
  GitHub keeps one analysis per category, so a scenario whose findings are all fixed gets an empty
  run that closes its alerts, and two scenarios never overwrite each other. Every rule is listed in
  every run, so a dashboard knows the whole rule set.
- One result per finding (a finding seen in several variants is one result listing them).
- The physical location is the scenario file, relative to its repository (`uriBaseId` `%SRCROOT%`),
  at the line of the step that was running when the request left, or of the variant that proves a
  consent finding: the line a reader can act on. Endpoint and data field are logical locations.
- GitHub identifies an alert by repository, file, rule and `partialFingerprints.
  primaryLocationLineHash`. Left to the upload action, that hash is computed from the text of the
  scenario line: every finding of one rule on one step would collapse into one alert, and editing
  the line would close and reopen them. The finding id is exactly the identity wanted (stable across
  audits, machines and shards), so it is given here; the upload action then logs that its own line
  hash differs, which is expected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from ..audit import Audit
from ..findings import RULES, Finding, Rule
from . import json_, view

FILENAME = "results.sarif"
SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "egressAuditor/v2"  # v2: ids independent of variant and canary values
SRCROOT = "%SRCROOT%"
CATEGORY = "egress-audit"

LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub buckets security-severity as critical >= 9.0, high >= 7.0, medium >= 4.0, low >= 0.1 and
# none at 0.0: every rule carries one, info rules "none".
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
# Rules proven by a variant rather than by one request's content: anchored to that variant's line.
VARIANT_RULES = ("CONSENT-", "SEC-002", "SEC-005")


def _rule_name(title: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", title) if w)


def _help(rule: Rule) -> dict:
    question = view.CONCERNS[rule.concern]
    evidence = ("The alert names the endpoint and the field that carried the data, the decoding layers "
                "and a masked excerpt; the audit's `runs/<scenario>/<run>/flows.mitm` (open it with "
                "`mitmweb -r`) holds the captured request.")
    return {
        "text": f"{rule.id} ({rule.severity}, {rule.concern}): {rule.title}. {question} "
                f"Fix: {rule.fix} {evidence.replace('`', '')}",
        "markdown": f"**{rule.title}** — {rule.id}, {rule.severity}, concern *{rule.concern}*: {question}\n\n"
                    f"**How to fix.** {rule.fix}\n\n**Evidence.** {evidence}\n\n"
                    f"Accept a finding you have reviewed with `egress-audit baseline OUT --out "
                    f"baseline.json` and `egress-audit run --baseline baseline.json`.",
    }


def _rule(rule: Rule) -> dict:
    return {
        "id": rule.id,
        "name": _rule_name(rule.title),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": f"{rule.title}. Concern: {rule.concern}: {view.CONCERNS[rule.concern]}"},
        "help": _help(rule),
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {"concern": rule.concern, "severity": rule.severity, "precision": rule.precision,
                       "security-severity": SECURITY_SEVERITY[rule.severity],
                       "tags": list(dict.fromkeys(("security", "egress", rule.concern)))},
    }


def _message(f: Finding) -> str:
    ev = f.evidence
    parts = [f"{f.title}: {f.scenario} ({', '.join(f.runs)})"]
    if f.host:
        parts.append(f"to {f.host}")
    if ev:
        chain = " > ".join(ev.layers)
        parts.append(f"at {ev.location}" + (f" (via {chain})" if chain else ""))
        parts.append(f"[{ev.match}: {ev.excerpt}]" if ev.excerpt else f"[{ev.match}]")
    if f.step:
        parts.append(f"during step {f.step}")
    if f.detail:
        parts.append(f"- {f.detail}")
    return view.clip(" ".join(parts), 1000)


@dataclass(frozen=True)
class _Source:
    """Where a scenario's file is, as code scanning wants it: relative to the repository root."""

    uri: str
    root: str  # absolute directory the uri is relative to
    lines: dict[str, int]

    def line(self, f: Finding) -> int:
        variant = view.variant_key(f.variant)[1]
        step = f"consent:{f.step.split('-')[1]}" if f.step.startswith("consent-") else f"step:{f.step}"
        by_variant = [f"variant:{variant}", f"consent:{variant}"]
        keys = by_variant + [step] if f.rule.startswith(VARIANT_RULES) else [step] + by_variant
        return next((self.lines[k] for k in keys + ["name"] if k in self.lines), 1)


def _source(audit: Audit, scenario: str) -> _Source | None:
    run = next((r for r in view.runs_of(audit, scenario) if r.scenario_file), None)
    if run is None:
        return None
    path = PurePosixPath(Path(run.scenario_file).as_posix())
    root = PurePosixPath(Path(run.scenario_root).as_posix()) if run.scenario_root else path.parent
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel, root = PurePosixPath(path.name), path.parent
    return _Source(quote(str(rel)), str(root), dict(run.scenario_lines))


def _location(f: Finding, src: _Source | None) -> dict:
    if src is None:
        # An imported capture has no scenario file; code scanning still requires an artifact.
        physical: dict = {"artifactLocation": {"uri": json_.FILENAME}}
    else:
        physical = {"artifactLocation": {"uri": src.uri, "uriBaseId": SRCROOT},
                    "region": {"startLine": src.line(f)}}
    logical = []
    if f.host or f.url:
        logical.append({"name": view.clip(f.host or f.url, 200),
                        "fullyQualifiedName": view.clip(f.url or f.host, 2000), "kind": "resource"})
    if f.evidence:
        logical.append({"name": view.clip(f.evidence.location, 500),
                        "fullyQualifiedName": view.clip(f"{f.host} {f.evidence.location}", 2000),
                        "kind": "property"})
    loc: dict = {"physicalLocation": physical}
    if logical:
        loc["logicalLocations"] = logical
    return loc


def _result(audit: Audit, f: Finding, index: dict[str, int], src: _Source | None, out: Path) -> dict:
    run = view.run_of(audit, f.scenario, f.variant)
    res = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "kind": "fail",
        "level": LEVEL[f.severity],
        "message": {"text": _message(f)},
        "locations": [_location(f, src)],
        "partialFingerprints": {"primaryLocationLineHash": f"{f.id}:1", FINGERPRINT_KEY: f.id},
        "properties": {"id": f.id, "severity": f.severity, "concern": f.concern, "confidence": f.confidence,
                       "scenario": f.scenario, "variant": f.variant, "variants": list(f.runs),
                       "step": f.step, "host": f.host, "url": f.url, "flow": f.flow,
                       "runDir": view.run_dir(run, out) if run else None,
                       "evidence": f.evidence.to_json() if f.evidence else None},
    }
    if f.baselined:
        res["baselineState"] = "unchanged"
        res["suppressions"] = [{"kind": "external", "status": "accepted",
                                "justification": "accepted in the egress-audit baseline"}]
    return res


def _run(audit: Audit, scenario: str | None, rules: list[Rule], out: Path) -> dict:
    index = {r.id: i for i, r in enumerate(rules)}
    v = view.verdict(audit)
    problems = list(audit.problems)
    if scenario is not None:
        problems += [f"{scenario}/{r.name}: {p}" for r in view.runs_of(audit, scenario) for p in r.problems]
    src = _source(audit, scenario) if scenario is not None else None
    findings = [f for f in view.sorted_findings(audit.findings) if scenario is None or f.scenario == scenario]
    run = {
        "tool": {"driver": {"name": "egress-auditor", "version": audit.tool_version,
                            "semanticVersion": audit.tool_version, "rules": [_rule(r) for r in rules]}},
        "automationDetails": {"id": f"{CATEGORY}/{scenario}/" if scenario else f"{CATEGORY}/"},
        "invocations": [{
            "executionSuccessful": audit.complete,
            "exitCode": audit.exit_code,
            "exitCodeDescription": v.meaning,
            "toolExecutionNotifications": [{"level": "error", "message": {"text": view.clip(p, 2000)}}
                                           for p in problems],
        }],
        "results": [_result(audit, f, index, src, out) for f in findings],
        "properties": {"complete": audit.complete, "capture": audit.capture, "failOn": audit.fail_on,
                       "created": audit.created, "verdict": v.headline,
                       "scenarios": [scenario] if scenario else []},
    }
    if src is not None and Path(src.root).is_absolute():
        run["originalUriBaseIds"] = {SRCROOT: {"uri": Path(src.root).as_uri().rstrip("/") + "/"}}
    return run


def document(audit: Audit, out: Path) -> dict:
    rules = list(RULES.values())
    scenarios = view.scenario_names(audit)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [_run(audit, s, rules, out) for s in scenarios] or [_run(audit, None, rules, out)],
    }


def render(audit: Audit, out: Path) -> Path:
    text = json.dumps(document(audit, out), indent=2, ensure_ascii=False) + "\n"
    return view.write_text(out / FILENAME, text, errors="backslashreplace")
