"""Rules from evidence and cross-variant facts, on hand-built facts (no capture needed)."""

import pytest

from auditor.findings import Evidence
from auditor.flowstore import Exchange
from auditor.identifiers import Verdict
from auditor.rules import ExchangeFacts, RunFacts, consent_rules, evidence_rules, identifier_rules, security_rules


def ex(host="t.example", method="POST", body=b'{"event":"x"}', scheme="https", ts=10.0, url_query=False, **kw):
    return Exchange(id=f"{host}-{ts}", kind=kw.pop("kind", "http"), host=host, scheme=scheme, method=method,
                    url=f"{scheme}://{host}/v1/e" + ("?v=1" if url_query else ""), path="/v1/e",
                    tls=scheme == "https", request_body=body, timestamp=ts, **kw)


def xf(cls="telemetry", evidence=(), ids=None, **kw):
    return ExchangeFacts(ex(**kw), cls, "test", list(evidence), ids or {})


def run(variant="unset", name=None, exchanges=(), notice=None, has_denied=True, same_home="", events=(), **kw):
    return RunFacts("s", name or variant, variant, same_home, list(exchanges), list(events), notice,
                    "expect.notice", has_denied, "proxy", **kw)


def rules(findings):
    return sorted(f.rule for f in findings)


@pytest.mark.parametrize("variant, rule", [("denied", "CONSENT-001"), ("dnt", "CONSENT-002"), ("ci", "CONSENT-005")])
def test_telemetry_in_a_refusing_variant(variant, rule):
    assert rules(consent_rules(run(variant, exchanges=[xf()]))) == [rule]


@pytest.mark.parametrize("variant", ["denied", "dnt", "ci", "granted", "unset"])
def test_no_telemetry_no_consent_finding(variant):
    quiet = run(variant, exchanges=[xf(cls="functional"), xf(cls="unknown")], notice=1.0)
    assert consent_rules(quiet) == []


def test_granted_telemetry_is_not_a_consent_finding():
    assert consent_rules(run("granted", exchanges=[xf()])) == []


def test_opt_out_and_notice_timing():
    before = rules(consent_rules(run("unset", exchanges=[xf(ts=10.0)], notice=12.0)))
    assert before == ["CONSENT-003", "CONSENT-004"]
    after = rules(consent_rules(run("unset", exchanges=[xf(ts=10.0)], notice=9.0)))
    assert after == ["CONSENT-003"]
    never = consent_rules(run("unset", exchanges=[xf()], notice=None))
    assert "no notice was printed" in next(f for f in never if f.rule == "CONSENT-004").detail


def test_no_way_to_refuse_raises_opt_out_to_high():
    [f] = [f for f in consent_rules(run("unset", exchanges=[xf()], notice=1.0, has_denied=False))]
    assert (f.rule, f.severity) == ("CONSENT-003", "high")


def test_contact_without_payload_after_refusal_is_sec_005():
    silent = xf(cls="undeclared", method="GET", body=b"")
    assert rules(consent_rules(run("denied", exchanges=[silent], telemetry_hosts=frozenset({"t.example"})))) == ["SEC-005"]
    assert consent_rules(run("denied", exchanges=[silent])) == []  # a host that never collected
    lookup = xf(cls="undeclared", kind="dns", method="", body=b"")
    update = xf(cls="undeclared", method="GET", body=b"", url_query=True)
    hosts = frozenset({"t.example"})
    assert consent_rules(run("denied", exchanges=[lookup, update], telemetry_hosts=hosts)) == [], \
        "the lookup is explained by the update check on the same host"


@pytest.mark.parametrize("cls, rule", [("collection", ["CONSENT-001"]), ("undeclared", []), ("functional", [])])
def test_data_collection_counts_for_the_awareness_rules(cls, rule):
    assert rules(consent_rules(run("denied", exchanges=[xf(cls=cls)]))) == rule


def test_twin_runs_make_no_per_run_findings():
    ev = Evidence("canary", "username", "body:$.u", value_digest="d", category="personal")
    twin = run("unset", name="unset-twin-user", exchanges=[xf(evidence=[ev], scheme="http")], twin="user")
    assert consent_rules(twin) == evidence_rules(twin) == security_rules(twin) == []


def test_a_documented_opt_out_that_did_not_hold_is_said():
    note = "the documented opt-out TOOL_TELEMETRY=0 of Tool (https://tool.example/telemetry; consent catalog from toptout)"
    [f] = consent_rules(run("denied", exchanges=[xf()], optout_note=note))
    assert f.rule == "CONSENT-001" and note + " did not hold" in f.detail


@pytest.mark.parametrize("match, form, rule", [
    ("username", "plain", "PRIV-001"), ("email", "md5", "PRIV-002"), ("hostname", "base64", "CONF-001"),
    ("project_path", "sha256", "CONF-003"), ("git_remote", "sha1:owner/repo", "CONF-003"),
    ("github_token", "plain", "CONF-002"), ("github_token", "sha256", "CONF-002"),
])
def test_canary_evidence_maps_to_rules(match, form, rule):
    ev = Evidence("canary", match, "body:$.x", form=form, value_digest="d")
    assert rules(evidence_rules(run(exchanges=[xf(evidence=[ev])]))) == [rule]


@pytest.mark.parametrize("match, category, rule", [
    ("email", "personal", "PRIV-005"), ("ipv4-public", "personal", "PRIV-005"),
    ("aws-access-key", "credential", "CONF-002"), ("digest-of:project_path", "confidential", "CONF-003"),
    ("a-new-kind", "personal", "PRIV-005"),  # the declared category decides, not a list of kinds
])
def test_heuristic_evidence_maps_to_rules_by_category(match, category, rule):
    ev = Evidence("heuristic", match, "body:$.x", value_digest="d", confidence="likely", category=category)
    [f] = evidence_rules(run(exchanges=[xf(evidence=[ev])]))
    assert (f.rule, f.confidence) == (rule, "likely")


def test_evidence_without_a_category_is_an_error_not_a_credential():
    ev = Evidence("heuristic", "new-thing", "body:$.x", value_digest="d")
    with pytest.raises(KeyError):
        evidence_rules(run(exchanges=[xf(evidence=[ev])]))


def test_every_detector_declares_its_category():
    from auditor.detect import CATEGORIES, HEURISTICS

    assert all(h.category in CATEGORIES for h in HEURISTICS)


def test_plaintext_and_insecure_fetch():
    cfg = ExchangeFacts(Exchange(id="1", kind="http", host="u.example", scheme="http", method="GET",
                                 url="http://u.example/latest.json?v=1", path="/latest.json?v=1"),
                        "unknown", "", [])
    assert rules(security_rules(run(exchanges=[cfg]))) == ["SEC-001", "SEC-003"]
    tls = xf(cls="unknown")
    assert security_rules(run(exchanges=[tls])) == []


def test_untrusted_ca_acceptance_and_refusal():
    accepted = security_rules(run("untrusted-ca", exchanges=[xf(cls="unknown")]))
    assert rules(accepted) == ["SEC-002"]
    refused = [{"event": "tls-failed-client", "sni": "t.example"}]
    assert security_rules(run("untrusted-ca", events=refused)) == []  # refusing is correct there
    assert rules(security_rules(run("unset", events=refused))) == ["SEC-004"]


def verdict(kind, confidence="certain", **kw):
    x = xf()
    return Verdict("POST t.example/v1/e", "body:$.id", kind, confidence, "V" * 20, run(), x, **kw)


@pytest.mark.parametrize("kind, rule, category, words", [
    ("machine", "PRIV-003", "personal", "machine fingerprint"),
    ("user", "PRIV-003", "personal", "follows the person"),
    ("project", "CONF-003", "confidential", "project fingerprint"),
    ("stable", "PRIV-003", "personal", "not attributed"),
    ("stored", "PRIV-004", "personal", "tracking id stored on disk"),
    ("constant", None, None, None), ("nonce", None, None, None), ("unknown", None, None, None),
])
def test_identifier_verdicts_map_to_rules(kind, rule, category, words):
    found = identifier_rules([verdict(kind, homes=3)])
    if rule is None:
        assert found == []
        return
    [f] = found
    assert (f.rule, f.evidence.category, f.evidence.match, f.variant) == (rule, category, "identifier", "unset")
    assert words in f.detail
    assert "V" * 8 not in f.evidence.excerpt + f.detail  # a masked excerpt, never the value


def test_exit_mid_handshake_is_not_a_refusal_when_the_host_decrypted():
    decrypted = xf(cls="unknown")
    quit_ = [{"event": "tls-failed-client", "sni": "t.example",
              "error": "The client disconnected during the handshake."}]
    assert security_rules(run("unset", exchanges=[decrypted], events=quit_)) == []
    assert rules(security_rules(run("unset", events=quit_))) == ["SEC-004"]
    refused = [{"event": "tls-failed-client", "sni": "t.example",
                "error": "The client does not trust the proxy's certificate for t.example"}]
    assert rules(security_rules(run("unset", exchanges=[decrypted], events=refused))) == ["SEC-004"]
