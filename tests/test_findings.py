"""Finding ids use only what stays the same across audits; grouping; redaction never republishes."""

import pytest

from auditor.findings import (RULES, SYNTHETIC_NET, Evidence, Finding, fingerprint, group, mask_in, redact,
                              stable_host, stable_text, value_identifies)


def ev(**kw):
    base = dict(detector="canary", match="username", location="body:$.user", value_digest="d1")
    return Evidence(**{**base, **kw})


def fnd(**kw):
    base = dict(rule="PRIV-001", title="t", scenario="s", variant="unset", host="h.example",
                url="https://h.example/v1/e", evidence=ev())
    return Finding(**{**base, **kw})


@pytest.mark.parametrize("change", [
    {"variant": "unset-2"}, {"variant": "denied"}, {"variant": "all"},      # never the run or variant
    {"flow": "f2"}, {"url": "https://h.example/v1/e?ts=2"},                 # flow ids, query strings
    {"url": "https://h.example:8443/v1/e"}, {"url": "http://h.example/v1/e"},  # ports, scheme
    {"evidence": ev(value_digest="d2", excerpt="ori***")},                  # the canary's random value
    {"host": "H.example."}, {"detail": "x"}, {"title": "other"}, {"step": "build"},
    {"url": "https://h.example/v1/e#frag"},
])
def test_fingerprint_ignores_what_changes_between_audits(change):
    assert fnd().id == fnd(**change).id


def test_fingerprint_ignores_array_slots():
    assert fnd(evidence=ev(location="body:$.batch[0].user")).id == fnd(evidence=ev(location="body:$.batch[7].user")).id


@pytest.mark.parametrize("change", [
    {"rule": "PRIV-002"}, {"scenario": "other"}, {"host": "i.example"}, {"url": "https://h.example/v2/e"},
    {"evidence": ev(location="body:$.other")}, {"evidence": ev(match="email")},
    {"evidence": ev(form="base64")}, {"evidence": None},
])
def test_fingerprint_changes_with_stable_fields(change):
    assert fnd().id != fnd(**change).id


@pytest.mark.parametrize("evidence, identifies", [
    (ev(detector="heuristic", match="email"), True),              # content the program chose
    (ev(detector="heuristic", match="github-token"), True),
    (ev(detector="heuristic", match="digest-of:project_path"), False),  # a digest of a canary
    (ev(detector="heuristic", match="ipv4-public"), False),       # the machine's, not the program's
    (ev(detector="heuristic", match="jwt"), False),               # minted per session
    (ev(detector="canary", match="username"), False),             # planted, random per audit
    (ev(detector="stability", match="identifier"), False),        # PRIV-003/004: the field, not its value
    (ev(detector="attribution", match="machine"), False),         # a detector not known here: stable
])
def test_value_digest_only_for_heuristic_content(evidence, identifies):
    assert value_identifies(evidence) is identifies
    other = fnd(evidence=evidence).with_(id="", evidence=Evidence(**{**evidence.__dict__, "value_digest": "zz"}))
    assert (fnd(evidence=evidence).id != other.id) is identifies


@pytest.mark.parametrize("raw, stable", [
    ("body:$.batch[3].user", "body:$.batch[*].user"),
    ("message[12]", "message[*]"),
    ("body:$.sessions.0f8fad5b-d9cb-469f-a165-70867728950e.user", "body:$.sessions.{id}.user"),
    ("/v1/install/c7e516e11ea94bd6a4c6c0f0e1a9b2d3/ping", "/v1/install/{id}/ping"),
    ("/t/1712345678/e", "/t/{n}/e"),
    ("/u/{username}/x", "/u/{username}/x"),                      # placeholders stay
    # negative rows: stable words, versions and short numbers are kept
    ("/v2/latest.json", "/v2/latest.json"), ("/api/1.4.2/check", "/api/1.4.2/check"),
    ("/page/2024", "/page/2024"), ("body:env.AWS_ACCESS_KEY_ID", "body:env.AWS_ACCESS_KEY_ID"),
    ("header:user-agent", "header:user-agent"), ("query:anonymousId", "query:anonymousId"),
])
def test_stable_text(raw, stable):
    assert stable_text(raw) == stable


def test_synthetic_addresses_are_generic():
    from auditor.capture import SYNTHETIC_NET as CAPTURE_NET
    assert SYNTHETIC_NET == CAPTURE_NET
    assert stable_host("198.18.0.7") == stable_host("198.19.4.2") == "{synthetic-address}"
    assert stable_host("198.51.100.9") == "198.51.100.9" and stable_host("Api.Example.") == "api.example"
    assert fnd(host="198.18.0.7").id == fnd(host="198.18.3.1").id


def test_group_merges_runs_and_keeps_the_first_in_variant_order():
    a = fnd(variant="dnt", flow="f-dnt", confidence="likely")
    b = fnd(variant="unset-2", flow="f-u2")
    c = fnd(variant="unset", flow="f-u", severity="high")
    other = fnd(rule="CONSENT-001", variant="denied", evidence=None)
    grouped = group([a, b, c, other])
    assert len(grouped) == 2
    g = next(x for x in grouped if x.rule == "PRIV-001")
    assert g.variants == ("unset", "unset-2", "dnt") and g.runs == g.variants
    assert (g.variant, g.flow) == ("unset", "f-u")
    assert g.severity == "critical" and g.confidence == "certain"  # the highest seen
    consent = next(x for x in grouped if x.rule == "CONSENT-001")
    assert consent.variant == "denied" and consent.variants == ("denied",)
    assert group(grouped) == grouped  # idempotent


def test_finding_json_lists_its_runs():
    f = fnd(variant="unset")
    assert f.to_json()["variants"] == ["unset"]
    assert group([f, fnd(variant="ci")])[0].to_json()["variants"] == ["unset", "ci"]


def test_every_rule_has_a_fix_and_a_precision():
    for rule in RULES.values():
        assert rule.fix.strip() and rule.precision in ("very-high", "high", "medium", "low"), rule.id


def test_fingerprint_is_deterministic():
    assert fingerprint(fnd()) == fnd().id and len(fnd().id) == 20


def test_redact_never_returns_the_value():
    for value in ("oriane8kq3", "AKIAABCDEFGHIJKLMNOP", "ab", "x"):
        masked = redact(value)
        assert value not in masked or len(value) <= 1
        assert masked.endswith("***")


def test_mask_in_masks_every_occurrence_case_insensitively():
    text = 'user=Oriane8KQ3&again=oriane8kq3'
    out = mask_in(text, "oriane8kq3")
    assert "oriane8kq3" not in out.lower() and out.count("***") == 2


def test_digest_forms_of_normal_forms_are_digests():
    assert ev(form="sha256:owner/repo").is_digest and ev(form="md5-b64").is_digest
    assert not ev(form="base64").is_digest
