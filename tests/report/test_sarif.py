import json
from pathlib import Path

import pytest

from auditor.findings import RULES
from auditor.report import sarif

SCHEMA = Path(__file__).parents[2] / ".." / "shared" / "schemas" / "sarif-schema-2.1.0.json"


def load(audit, out):
    path = sarif.render(audit, out)
    assert path == out / "results.sarif"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(params=["audit", "incomplete_audit", "clean_audit", "hostile_audit"])
def any_audit(request):
    return request.getfixturevalue(request.param)


def test_valid_against_the_sarif_schema(any_audit, tmp_path):
    if not SCHEMA.is_file():
        pytest.skip(f"SARIF schema not available at {SCHEMA}")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(load(any_audit, tmp_path), json.loads(SCHEMA.read_text()))


def test_one_run_listing_every_rule(audit, tmp_path):
    doc = load(audit, tmp_path)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("egress-auditor", audit.tool_version)
    assert [r["id"] for r in driver["rules"]] == list(RULES)
    consent = driver["rules"][0]
    assert consent["shortDescription"]["text"] == RULES["CONSENT-001"].title
    assert consent["defaultConfiguration"]["level"] == "error"
    assert consent["properties"]["concern"] == "awareness"
    assert consent["properties"]["severity"] == "critical"
    assert consent["properties"]["security-severity"] == "9.5"
    assert "security-severity" not in driver["rules"][list(RULES).index("EGRESS-001")]["properties"]


@pytest.mark.parametrize("severity, level", [
    ("critical", "error"), ("high", "error"), ("medium", "warning"), ("low", "note"), ("info", "note")])
def test_level_follows_the_finding_severity(build, tmp_path, severity, level):
    f = build.finding("PRIV-004", "unset", severity=severity)  # policy may override a rule's severity
    (result,) = load(build.audit(findings=(f,)), tmp_path)["runs"][0]["results"]
    assert result["level"] == level
    assert result["properties"]["severity"] == severity


def test_results(audit, tmp_path):
    run = load(audit, tmp_path)["runs"][0]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["CONF-002", "CONSENT-001", "PRIV-001", "PRIV-004", "EGRESS-001"]
    by_id = {f.id: f for f in audit.findings}
    for r in results:
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        f = by_id[r["partialFingerprints"]["egressAuditor/v1"]]
        assert f.rule == r["ruleId"]
        assert f.title in r["message"]["text"]
    consent = results[1]
    assert "polite-tool/denied" in consent["message"]["text"]
    assert "jdo***" in consent["message"]["text"]
    (loc,) = consent["locations"]
    assert loc["logicalLocations"][0] == {
        "name": "telemetry.polite-tool.example",
        "fullyQualifiedName": "https://telemetry.polite-tool.example/v1/collect", "kind": "resource"}
    assert loc["logicalLocations"][1] == {"name": "body:$.events[0].user", "kind": "property"}
    # No run directory in this audit (as for an imported capture): point at the full record.
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "findings.json"


def test_location_points_at_the_run_flows(build, tmp_path):
    run = build.run("unset", dir=tmp_path / "runs" / "polite-tool" / "unset")
    audit = build.audit(runs=(run,), findings=(build.finding("PRIV-001", "unset"),))
    (result,) = load(audit, tmp_path)["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "runs/polite-tool/unset/flows.mitm"


def test_baselined_findings_are_suppressed(audit, tmp_path):
    results = load(audit, tmp_path)["runs"][0]["results"]
    baselined = [r for r in results if "suppressions" in r]
    assert [r["ruleId"] for r in baselined] == ["CONF-002"]
    assert baselined[0]["baselineState"] == "unchanged"
    assert baselined[0]["suppressions"][0]["status"] == "accepted"
    assert all("baselineState" not in r for r in results if r not in baselined)


def test_invocation_reports_an_incomplete_audit(incomplete_audit, tmp_path):
    run = load(incomplete_audit, tmp_path)["runs"][0]
    (inv,) = run["invocations"]
    assert (inv["executionSuccessful"], inv["exitCode"]) == (False, 3)
    texts = [n["message"]["text"] for n in inv["toolExecutionNotifications"]]
    assert texts == ["1 of 2 runs failed to capture",
                     "polite-tool/denied: sandbox could not start: tun device unavailable"]
    assert run["properties"]["complete"] is False


def test_complete_audit_invocation(audit, tmp_path):
    inv = load(audit, tmp_path)["runs"][0]["invocations"][0]
    assert (inv["executionSuccessful"], inv["exitCode"], inv["toolExecutionNotifications"]) == (True, 1, [])


def test_hostile_message_is_single_line_and_bounded(hostile_audit, tmp_path):
    for r in load(hostile_audit, tmp_path)["runs"][0]["results"]:
        text = r["message"]["text"]
        assert "\n" not in text and "\x00" not in text and "\u202e" not in text
        assert len(text) < 1100


def test_finding_without_evidence_or_host(build, tmp_path):
    from auditor.findings import Finding
    f = Finding(rule="CONSENT-004", title="Telemetry before any notice", scenario="polite-tool",
                variant="unset", detail="no notice was printed")
    doc = load(build.audit(findings=(f,)), tmp_path)
    (result,) = doc["runs"][0]["results"]
    assert "logicalLocations" not in result["locations"][0]
    assert result["message"]["text"] == "Telemetry before any notice: polite-tool/unset - no notice was printed"
    if SCHEMA.is_file():
        jsonschema = pytest.importorskip("jsonschema")
        jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
