"""results.sarif: SARIF 2.1.0 for code-scanning dashboards (GitHub, GitLab, Azure DevOps).

Every rule is listed, not only those that fired, so a dashboard knows the whole rule set and a
rule that stops firing shows up as fixed. partialFingerprints carry the finding id, which is
built from stable fields only, so the same leak in tomorrow's audit is the same alert.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from ..audit import Audit
from ..findings import RULES, Finding
from . import json_, view

FILENAME = "results.sarif"
SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "egressAuditor/v1"

LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub buckets security-severity as critical >= 9.0, high >= 7.0, medium >= 4.0, low > 0.
# info findings get none: they describe, they do not warn.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def _rule_name(title: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", title) if w)


def _rule(rule) -> dict:
    props = {"concern": rule.concern, "severity": rule.severity,
             "tags": list(dict.fromkeys(("security", "egress", rule.concern)))}
    if rule.severity in SECURITY_SEVERITY:
        props["security-severity"] = SECURITY_SEVERITY[rule.severity]
    return {
        "id": rule.id,
        "name": _rule_name(rule.title),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": f"{rule.title}. Concern: {rule.concern}: "
                                    f"{view.CONCERNS[rule.concern]}"},
        "help": {"text": f"{rule.id} ({rule.severity}, {rule.concern}): {rule.title}. The finding's "
                         "evidence names the request, the place in it and the decoding layers; the "
                         "run directory holds the captured flows."},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": props,
    }


def _message(f: Finding) -> str:
    ev = f.evidence
    parts = [f"{f.title}: {f.scenario}/{f.variant}"]
    if f.host:
        parts.append(f"to {f.host}")
    if ev:
        chain = " > ".join(ev.layers)
        parts.append(f"at {ev.location}" + (f" (via {chain})" if chain else ""))
        parts.append(f"[{ev.match}: {ev.excerpt}]" if ev.excerpt else f"[{ev.match}]")
    if f.detail:
        parts.append(f"- {f.detail}")
    return view.clip(" ".join(parts), 1000)


def _location(audit: Audit, f: Finding, out: Path) -> dict:
    run = view.run_of(audit, f.scenario, f.variant)
    where = view.run_dir(run, out) if run else None
    # Code-scanning uploads reject results without an artifact. The flows file is the evidence;
    # an imported capture has no run directory, so point at the finding's full record instead.
    if where is None:
        uri = json_.FILENAME
    elif Path(where).is_absolute():
        uri = (Path(where) / "flows.mitm").as_uri()
    else:
        uri = quote(f"{where}/flows.mitm")
    logical = []
    if f.host or f.url:
        logical.append({"name": view.clip(f.host or f.url, 200),
                        "fullyQualifiedName": view.clip(f.url or f.host, 2000), "kind": "resource"})
    if f.evidence:
        logical.append({"name": view.clip(f.evidence.location, 500), "kind": "property"})
    loc: dict = {"physicalLocation": {"artifactLocation": {"uri": uri}}}
    if logical:
        loc["logicalLocations"] = logical
    return loc


def _result(audit: Audit, f: Finding, index: dict[str, int], out: Path) -> dict:
    res = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "kind": "fail",
        "level": LEVEL[f.severity],
        "message": {"text": _message(f)},
        "locations": [_location(audit, f, out)],
        "partialFingerprints": {FINGERPRINT_KEY: f.id},
        "properties": {"severity": f.severity, "concern": f.concern, "confidence": f.confidence,
                       "scenario": f.scenario, "variant": f.variant, "host": f.host, "url": f.url,
                       "flow": f.flow,
                       "evidence": f.evidence.to_json() if f.evidence else None},
    }
    if f.baselined:
        res["baselineState"] = "unchanged"
        res["suppressions"] = [{"kind": "external", "status": "accepted",
                                "justification": "accepted in the egress-audit baseline"}]
    return res


def document(audit: Audit, out: Path) -> dict:
    rules = list(RULES.values())
    index = {r.id: i for i, r in enumerate(rules)}
    v = view.verdict(audit)
    invocation = {
        "executionSuccessful": audit.complete,
        "exitCode": audit.exit_code,
        "exitCodeDescription": v.meaning,
        "toolExecutionNotifications": [
            {"level": "error", "message": {"text": view.clip(p, 2000)}}
            for p in view.all_problems(audit)
        ],
    }
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "egress-auditor", "version": audit.tool_version,
                                "semanticVersion": audit.tool_version,
                                "rules": [_rule(r) for r in rules]}},
            "invocations": [invocation],
            "results": [_result(audit, f, index, out) for f in view.sorted_findings(audit.findings)],
            "properties": {"complete": audit.complete, "capture": audit.capture,
                           "failOn": audit.fail_on, "created": audit.created,
                           "verdict": v.headline, "scenarios": view.scenario_names(audit)},
        }],
    }


def render(audit: Audit, out: Path) -> Path:
    text = json.dumps(document(audit, out), indent=2, ensure_ascii=False) + "\n"
    return view.write_text(out / FILENAME, text, errors="backslashreplace")
