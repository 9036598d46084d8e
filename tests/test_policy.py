"""Allowlist predicates, symbolic registry sources, policy files and baselines."""

import json

import pytest

from auditor import policy
from auditor.errors import UsageError
from auditor.findings import Finding


@pytest.mark.parametrize("host, patterns, allowed", [
    ("mirror.example", ["mirror.example"], True),
    ("MIRROR.example.", ["mirror.example"], True),
    ("a.cdn.example", ["*.cdn.example"], True),
    ("a.b.cdn.example", ["*.cdn.example"], True),
    ("cdn.example", ["*.cdn.example"], False),
    ("evilcdn.example", ["*.cdn.example"], False),
    ("mirror.example.evil.example", ["mirror.example"], False),
    ("x.example", [], False),
    ("api.example", ["api.example/v1/*"], True),
])
def test_is_allowed(host, patterns, allowed):
    assert policy.is_allowed(host, patterns) is allowed


@pytest.mark.parametrize("host, path, allowed", [
    ("api.example", "/v1/events", True),
    ("api.example", "/v1/events?x=1", True),
    ("api.example", "/v2/events", False),
    ("other.example", "/v1/events", False),
])
def test_matches_endpoint(host, path, allowed):
    assert policy.matches_endpoint(host, path, ["api.example/v1/*"]) is allowed


def test_pip_index_follows_user_configuration(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.corp.example/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://extra.corp.example/simple file:///opt/x")
    hosts = policy.pip_index_hosts()
    assert "mirror.corp.example" in hosts and "extra.corp.example" in hosts
    assert all("/" not in h for h in hosts)
    assert len(hosts) >= 3  # pip's own default index and file host are included too


def test_npm_registry_follows_user_configuration(monkeypatch):
    monkeypatch.setenv("npm_config_registry", "https://npm.corp.example/")
    assert "npm.corp.example" in policy.npm_registry_hosts()


def test_resolve_allow_keeps_names_and_expands_sources(monkeypatch):
    monkeypatch.setitem(policy.SOURCES, "@pip-index", lambda: ["idx.example"])
    assert policy.resolve_allow(["@pip-index", "a.example/path", "*.b.example"]) == (
        "idx.example", "a.example", "*.b.example")


def test_policy_file(tmp_path):
    p = tmp_path / "policy.yaml"
    p.write_text("allow: [cdn.example]\nseverities: {EGRESS-001: low}\nignore: [SEC-005]\n")
    pol = policy.load_policy(p)
    fs = [Finding(rule="EGRESS-001", title="t", scenario="s", variant="all", host="cdn.example"),
          Finding(rule="EGRESS-001", title="t", scenario="s", variant="all", host="x.example"),
          Finding(rule="SEC-005", title="t", scenario="s", variant="denied", host="x.example")]
    out = policy.apply_policy(fs, pol)
    assert [(f.rule, f.host, f.severity) for f in out] == [("EGRESS-001", "x.example", "low")]


@pytest.mark.parametrize("text, message", [
    ("bogus: 1\n", "bogus: unknown key"),
    ("severities: {NOPE-1: high}\n", "unknown rule id"),
    ("severities: {SEC-001: huge}\n", "expected one of"),
    ("allow: cdn.example\n", "expected a list"),
])
def test_bad_policy(tmp_path, text, message):
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    with pytest.raises(UsageError, match=message):
        policy.load_policy(p)


def test_baseline_round_trip(tmp_path):
    f1 = Finding(rule="PRIV-001", title="t", scenario="s", variant="unset", host="t.example")
    f2 = Finding(rule="SEC-001", title="t", scenario="s", variant="unset", host="u.example")
    path = tmp_path / "baseline.json"
    assert policy.write_baseline([f1], path) == 1
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 2
    assert doc["findings"] == [{"id": f1.id, "rule": "PRIV-001", "severity": "critical", "scenario": "s",
                                "host": "t.example", "location": "", "title": "Known personal data sent"}]
    marked = policy.apply_baseline([f1, f2], policy.load_baseline(path))
    assert [f.baselined for f in marked] == [True, False]


@pytest.mark.parametrize("text, message", [
    ('{"schema_version": 9}', "schema_version: expected 2"),
    ('{"schema_version": 1, "findings": []}', "egress-audit baseline OUT --out FILE"),  # upgrade path
    ('{"schema_version": 2, "findings": [1]}', "findings: expected a list"),
    ("[]", "schema_version"), ("not json", "cannot read baseline"),
])
def test_bad_baseline(tmp_path, text, message):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        policy.load_baseline(path)


def endpoint(host, cls, forwarded=(), ports=()):
    from auditor.audit import Endpoint
    return Endpoint(host, cls, ("unset",), 1, "forward" if forwarded else "sinkhole",
                    ports=tuple(ports) or tuple(forwarded), forwarded=tuple(forwarded))


def test_firewall_entries_only_forwarded_functional_endpoints_with_their_ports():
    eps = [endpoint("idx.example", "functional", [("https", 443)]),
           endpoint("mirror.example", "functional", [("http", 80), ("https", 8443)]),
           endpoint("telemetry.example", "telemetry", [("https", 443)]),     # a collector, even if reached
           endpoint("unknown.example", "unknown", ports=[("https", 443)]),    # sinkholed
           endpoint("quiet.example", "functional")]                          # only looked up
    assert policy.firewall_entries(eps) == ["idx.example:443", "mirror.example:80", "mirror.example:8443"]
