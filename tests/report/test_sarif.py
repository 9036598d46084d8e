import json

import pytest

from auditor.findings import RULES, Finding
from auditor.report import sarif

from . import sarif_checks

SCENARIO_LINES = (("name", 2), ("step:install", 9), ("step:build", 20), ("variant:unset", 26),
                  ("variant:denied", 27), ("consent:denied", 24))


def load(audit, out):
    path = sarif.render(audit, out)
    assert path == out / "results.sarif"
    return json.loads(path.read_text(encoding="utf-8"))


def sourced(build, tmp_path, findings, **kw):
    """An audit whose runs know their scenario file, as `run` records it in run.json."""
    repo = tmp_path / "repo"
    where = dict(scenario_file=str(repo / "scenarios" / "polite tool.yaml"), scenario_root=str(repo),
                 scenario_lines=SCENARIO_LINES)
    runs = (build.run("unset", **where), build.run("denied", **where))
    return build.audit(runs=runs, findings=findings, **kw)


@pytest.fixture(params=["audit", "incomplete_audit", "clean_audit", "hostile_audit", "sourced"])
def any_audit(request, build, tmp_path):
    if request.param == "sourced":
        return sourced(build, tmp_path, (build.finding("PRIV-001", "unset", step="build"),
                                         build.finding("PRIV-001", "unset", location="body:$.b", step="build"),
                                         build.finding("CONSENT-001", "denied")))
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("check", sarif_checks.CHECKS, ids=lambda c: c.__name__)
def test_github_code_scanning_checks(any_audit, tmp_path, check):
    check(load(any_audit, tmp_path))


def test_the_official_schema_ships_with_the_tests():
    assert sarif_checks.SCHEMA.is_file()  # never skipped: a fresh clone validates too


def test_one_run_per_scenario_each_listing_every_rule(build, tmp_path):
    extra = build.finding("SEC-001", "unset", scenario="other")
    audit = build.audit(findings=build.audit().findings + (extra,))
    doc = load(audit, tmp_path)
    assert doc["version"] == "2.1.0"
    assert [r["automationDetails"]["id"] for r in doc["runs"]] == ["egress-audit/polite-tool/",
                                                                   "egress-audit/other/"]
    for run in doc["runs"]:
        driver = run["tool"]["driver"]
        assert (driver["name"], driver["version"]) == ("egress-auditor", audit.tool_version)
        assert [r["id"] for r in driver["rules"]] == list(RULES)
    assert [r["ruleId"] for r in doc["runs"][1]["results"]] == ["SEC-001"]
    consent = doc["runs"][0]["tool"]["driver"]["rules"][0]
    assert consent["shortDescription"]["text"] == RULES["CONSENT-001"].title
    assert consent["defaultConfiguration"]["level"] == "error"
    assert consent["properties"]["security-severity"] == "9.5"
    assert RULES["CONSENT-001"].fix in consent["help"]["markdown"]
    egress = doc["runs"][0]["tool"]["driver"]["rules"][list(RULES).index("EGRESS-001")]
    assert egress["properties"]["security-severity"] == "0.0"  # GitHub's "none"


def test_a_clean_scenario_still_gets_its_run(clean_audit, tmp_path):
    (run,) = load(clean_audit, tmp_path)["runs"]  # an empty run closes the scenario's alerts
    assert run["automationDetails"]["id"] == "egress-audit/polite-tool/" and run["results"] == []


@pytest.mark.parametrize("severity, level", [
    ("critical", "error"), ("high", "error"), ("medium", "warning"), ("low", "note"), ("info", "note")])
def test_level_follows_the_finding_severity(build, tmp_path, severity, level):
    f = build.finding("PRIV-004", "unset", severity=severity)  # policy may override a rule's severity
    (result,) = load(build.audit(findings=(f,)), tmp_path)["runs"][0]["results"]
    assert result["level"] == level
    assert result["properties"]["severity"] == severity


def test_one_result_per_finding_with_its_runs(audit, tmp_path):
    doc = load(audit, tmp_path)
    results = sarif_checks.results(doc)
    assert len(results) == len({f.id for f in audit.findings})
    assert [r["ruleId"] for r in results] == ["CONF-002", "CONSENT-001", "PRIV-001", "PRIV-004", "EGRESS-001"]
    by_id = {f.id: f for f in audit.findings}
    for r in results:
        f = by_id[r["partialFingerprints"]["egressAuditor/v2"]]
        assert r["partialFingerprints"]["primaryLocationLineHash"] == f"{f.id}:1"
        assert f.rule == r["ruleId"] and f.title in r["message"]["text"]
    priv = results[2]
    assert priv["properties"]["variants"] == ["unset", "unset-2", "dnt"]
    assert "polite-tool (unset, unset-2, dnt)" in priv["message"]["text"]
    consent = results[1]
    assert "jdo***" in consent["message"]["text"]
    (loc,) = consent["locations"]
    assert loc["logicalLocations"][0] == {
        "name": "telemetry.polite-tool.example",
        "fullyQualifiedName": "https://telemetry.polite-tool.example/v1/collect", "kind": "resource"}
    assert loc["logicalLocations"][1] == {
        "name": "body:$.events[0].user", "kind": "property",
        "fullyQualifiedName": "telemetry.polite-tool.example body:$.events[0].user"}
    # No scenario file known (as for an imported capture): point at the full record.
    assert loc["physicalLocation"] == {"artifactLocation": {"uri": "findings.json"}}


def test_location_is_the_scenario_file_at_the_step_or_variant_line(build, tmp_path):
    findings = (
        build.finding("PRIV-001", "unset", step="build"),          # the step that sent it
        build.finding("SEC-001", "unset-2", location="url"),        # no step known: its variant
        build.finding("CONSENT-001", "denied", step="build"),       # proven by the variant
        build.finding("CONF-002", "denied", location="x", step="consent-denied-1"),  # a consent command
        build.finding("SEC-003", "ci", location="y"),               # nothing known: the name line
    )
    doc = load(sourced(build, tmp_path, findings), tmp_path)
    (run,) = doc["runs"]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": (tmp_path / "repo").as_uri() + "/"}}
    lines = {}
    for r in run["results"]:
        phys = r["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"] == {"uri": "scenarios/polite%20tool.yaml", "uriBaseId": "%SRCROOT%"}
        lines[r["ruleId"]] = phys["region"]["startLine"]
    assert lines == {"PRIV-001": 20, "SEC-001": 26, "CONSENT-001": 27, "CONF-002": 24, "SEC-003": 2}


def test_scenario_outside_a_repository_is_relative_to_its_folder(build, tmp_path):
    run = build.run("unset", scenario_file=str(tmp_path / "s.yaml"), scenario_lines=(("name", 3),))
    doc = load(build.audit(runs=(run,), findings=(build.finding("PRIV-001", "unset"),)), tmp_path)
    phys = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert phys == {"artifactLocation": {"uri": "s.yaml", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 3}}
    assert doc["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


def test_result_names_its_run_directory(build, tmp_path):
    run = build.run("unset", dir=tmp_path / "runs" / "polite-tool" / "unset")
    audit = build.audit(runs=(run,), findings=(build.finding("PRIV-001", "unset"),))
    (result,) = load(audit, tmp_path)["runs"][0]["results"]
    assert result["properties"]["runDir"] == "runs/polite-tool/unset"


def test_baselined_findings_are_suppressed(audit, tmp_path):
    results = sarif_checks.results(load(audit, tmp_path))
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
    for r in sarif_checks.results(load(hostile_audit, tmp_path)):
        text = r["message"]["text"]
        assert "\n" not in text and "\x00" not in text and "\u202e" not in text
        assert len(text) < 1100


def test_finding_without_evidence_or_host(build, tmp_path):
    f = Finding(rule="CONSENT-004", title="Telemetry before any notice", scenario="polite-tool",
                variant="unset", detail="no notice was printed")
    doc = load(build.audit(findings=(f,)), tmp_path)
    (result,) = doc["runs"][0]["results"]
    assert "logicalLocations" not in result["locations"][0]
    assert result["message"]["text"] == "Telemetry before any notice: polite-tool (unset) - no notice was printed"
    sarif_checks.schema(doc)
