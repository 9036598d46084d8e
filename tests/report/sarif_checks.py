"""What GitHub code scanning needs from a SARIF file, one check each (used on the renderer's output
for hand-built audits and on the demo's real results.sarif).

From GitHub's "SARIF support for code scanning": the official 2.1.0 schema; one analysis per
category (runAutomationDetails.id); alerts identified by repository, file, rule and
partialFingerprints.primaryLocationLineHash; file paths relative to the repository root; rule help,
precision and security-severity; its upload limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"
PRECISIONS = {"very-high", "high", "medium", "low"}


def schema(doc: dict) -> None:
    import jsonschema

    jsonschema.validate(doc, json.loads(SCHEMA.read_text(encoding="utf-8")))


def one_analysis_per_category(doc: dict) -> None:
    """GitHub rejects two runs of one tool with the same category in one upload."""
    seen = set()
    for run in doc["runs"]:
        auto = run["automationDetails"]["id"]
        category = auto.rsplit("/", 1)[0]
        key = (run["tool"]["driver"]["name"], category)
        assert category and key not in seen, key
        seen.add(key)


def rules_carry_help_precision_and_security_severity(doc: dict) -> None:
    for run in doc["runs"]:
        for rule in run["tool"]["driver"]["rules"]:
            assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"], rule["id"]
            assert rule["help"]["text"] and "How to fix" in rule["help"]["markdown"], rule["id"]
            props = rule["properties"]
            assert props["precision"] in PRECISIONS, rule["id"]
            sev = props["security-severity"]
            assert isinstance(sev, str) and 0.0 <= float(sev) <= 10.0, rule["id"]
            assert "security" in props["tags"] and len(props["tags"]) <= 20, rule["id"]


def results_point_at_their_rules(doc: dict) -> None:
    for run in doc["runs"]:
        rules = run["tool"]["driver"]["rules"]
        for r in run["results"]:
            assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
            assert r["level"] in ("error", "warning", "note", "none")


def paths_relative_to_the_repository(doc: dict) -> None:
    for run in doc["runs"]:
        bases = run.get("originalUriBaseIds", {})
        for r in run["results"]:
            art = r["locations"][0]["physicalLocation"]["artifactLocation"]
            assert not urlsplit(art["uri"]).scheme and not art["uri"].startswith("/"), art
            if "uriBaseId" in art:
                root = bases[art["uriBaseId"]]["uri"]
                assert root.startswith("file:///") and root.endswith("/"), root
                region = r["locations"][0]["physicalLocation"]["region"]
                assert isinstance(region["startLine"], int) and region["startLine"] >= 1


def one_alert_per_finding(doc: dict) -> None:
    """GitHub merges results with the same rule, file and primaryLocationLineHash into one alert."""
    for run in doc["runs"]:
        keys = []
        for r in run["results"]:
            art = r["locations"][0]["physicalLocation"]["artifactLocation"]
            keys.append((r["ruleId"], art.get("uriBaseId"), art["uri"],
                         r["partialFingerprints"]["primaryLocationLineHash"]))
        assert len(keys) == len(set(keys)), keys


def logical_locations_name_endpoint_and_field(doc: dict) -> None:
    for run in doc["runs"]:
        for r in run["results"]:
            kinds = [loc["kind"] for loc in r["locations"][0].get("logicalLocations", [])]
            props = r["properties"]
            if props["host"]:
                assert kinds[0] == "resource"
            if props["evidence"]:
                assert kinds[-1] == "property"


def within_upload_limits(doc: dict) -> None:
    assert len(doc["runs"]) <= 20
    for run in doc["runs"]:
        assert len(run["results"]) <= 25_000 and len(run["tool"]["driver"]["rules"]) <= 25_000
        for r in run["results"]:
            assert len(r["locations"]) <= 1000 and len(r["message"]["text"]) <= 1100


CHECKS = (schema, one_analysis_per_category, rules_carry_help_precision_and_security_severity,
          results_point_at_their_rules, paths_relative_to_the_repository, one_alert_per_finding,
          logical_locations_name_endpoint_and_field, within_upload_limits)


def results(doc: dict) -> list[dict]:
    return [r for run in doc["runs"] for r in run["results"]]
