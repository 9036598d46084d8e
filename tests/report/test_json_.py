import json

from auditor.report import json_

from .conftest import CREATED, SURROGATE, VERSION


def load(audit, out):
    path = json_.render(audit, out)
    assert path == out / "findings.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_top_level_in_fixed_order(audit, tmp_path):
    doc = load(audit, tmp_path)
    assert list(doc) == ["schema_version", "tool", "created", "complete", "exit_code", "fail_on",
                         "capture", "summary", "problems", "notes", "scenarios", "endpoints",
                         "findings"]
    assert doc["schema_version"] == 2
    assert doc["tool"] == {"name": "egress-auditor", "version": VERSION}
    assert (doc["created"], doc["complete"], doc["exit_code"], doc["fail_on"], doc["capture"]) == \
        (CREATED, True, 1, "high", "tun")
    assert doc["summary"]["failing"] == 2
    assert doc["notes"] == ["json decoder: 1 body over 8 MiB not decoded"]


def test_scenarios_list_runs_in_variant_order(audit, tmp_path):
    (scenario,) = load(audit, tmp_path)["scenarios"]
    assert scenario["name"] == "polite-tool"
    assert [v["name"] for v in scenario["variants"]] == ["unset", "unset-2", "denied", "dnt"]
    assert scenario["variants"][1] == {
        "name": "unset-2", "variant": "unset", "capture": "tun",
        "coverage": ["tcp", "udp", "dns", "http"], "coverage_note": "QUIC payloads are not decrypted",
        "isolation": "", "flows": 4, "exit_codes": [0, 0], "complete": True, "problems": [], "notice_seen": False,
        "telemetry_requests": 3, "dir": None}


def test_run_dir_is_relative_to_the_output(build, tmp_path):
    audit = build.audit(runs=(build.run("unset", dir=tmp_path / "runs" / "polite-tool" / "unset"),))
    assert load(audit, tmp_path)["scenarios"][0]["variants"][0]["dir"] == "runs/polite-tool/unset"


def test_endpoints_sorted_by_host_with_sorted_variants(audit, tmp_path):
    eps = load(audit, tmp_path)["endpoints"]
    assert [e["host"] for e in eps] == ["cdn.polite-tool.example", "index.registry.example",
                                        "telemetry.polite-tool.example"]
    assert eps[2] == {"host": "telemetry.polite-tool.example", "class": "telemetry", "confidence": "certain",
                      "evidence": ["sent in unset, not in denied: gated by consent"],
                      "action": "sinkhole", "variants": ["unset", "unset-2", "denied"], "requests": 8,
                      "dns_lookups": 0, "connections": 0,
                      "ports": [{"scheme": "https", "port": 443, "forwarded": False}],
                      "by_request": [{"scenario": "polite-tool", "request": "POST telemetry.polite-tool.example/v1/collect",
                                      "class": "telemetry", "confidence": "certain",
                                      "evidence": ["sent in unset, not in denied: gated by consent"],
                                      "runs": ["unset", "unset-2"], "requests": 8}]}
    assert eps[1]["ports"] == [{"scheme": "https", "port": 443, "forwarded": True},
                               {"scheme": "http", "port": 8080, "forwarded": True}]


def test_findings_sorted_and_as_the_model_writes_them(audit, tmp_path):
    found = load(audit, tmp_path)["findings"]
    assert [f["rule"] for f in found] == ["CONF-002", "CONSENT-001", "PRIV-001", "PRIV-004", "EGRESS-001"]
    by_id = {f.id: f for f in audit.findings}
    for f in found:
        assert f == by_id[f["id"]].to_json()
    assert found[0]["baselined"] is True
    priv = next(f for f in found if f["rule"] == "PRIV-001")
    assert (priv["variant"], priv["variants"]) == ("unset", ["unset", "unset-2", "dnt"])
    assert found[1]["evidence"] == {"location": "body:$.events[0].user", "layers": ["gzip", "json"],
                                    "match": "username", "form": "plain", "excerpt": "jdo***",
                                    "detector": "canary", "category": "personal"}


def test_incomplete_audit(incomplete_audit, tmp_path):
    doc = load(incomplete_audit, tmp_path)
    assert (doc["complete"], doc["exit_code"]) == (False, 3)
    assert doc["problems"] == ["1 of 2 runs failed to capture"]
    denied = doc["scenarios"][0]["variants"][1]
    assert (denied["name"], denied["complete"], denied["exit_codes"]) == ("denied", False, [None])
    assert denied["problems"] == ["sandbox could not start: tun device unavailable"]


def test_scenario_known_only_from_a_finding_is_listed(build, tmp_path):
    extra = build.finding("SEC-001", "unset", scenario="other")
    audit = build.audit(findings=(extra,))
    assert [s["name"] for s in load(audit, tmp_path)["scenarios"]] == ["polite-tool", "other"]


def test_deterministic(audit, tmp_path):
    a = json_.render(audit, tmp_path / "a").read_bytes()
    b = json_.render(audit, tmp_path / "b").read_bytes()
    assert a == b


def test_hostile_values_round_trip_exactly(hostile_audit, tmp_path):
    doc = load(hostile_audit, tmp_path)
    assert doc["problems"] == list(hostile_audit.problems)  # NUL kept, as an escape
    excerpts = {f["evidence"]["excerpt"] for f in doc["findings"]}
    assert any(e.startswith(SURROGATE) for e in excerpts)
    (tmp_path / "findings.json").read_bytes().decode("utf-8")  # strict UTF-8 on disk
