"""Fingerprints use stable fields only; redaction never republishes a value."""

from auditor.findings import Evidence, Finding, mask_in, redact


def ev(**kw):
    base = dict(detector="canary", match="username", location="body:$.user", value_digest="d1")
    return Evidence(**{**base, **kw})


def test_fingerprint_ignores_flow_ids_query_and_repeat_number():
    a = Finding(rule="PRIV-001", title="t", scenario="s", variant="unset", host="h.example",
                url="https://h.example/v1/e?ts=1", flow="f1", evidence=ev())
    b = Finding(rule="PRIV-001", title="t", scenario="s", variant="unset-2", host="h.example",
                url="https://h.example/v1/e?ts=2", flow="f2", evidence=ev(excerpt="other"))
    assert a.id == b.id


def test_fingerprint_changes_with_stable_fields():
    a = Finding(rule="PRIV-001", title="t", scenario="s", variant="unset", host="h.example", evidence=ev())
    assert a.id != a.with_(id="", rule="PRIV-002").id
    assert a.id != Finding(rule="PRIV-001", title="t", scenario="s", variant="dnt", host="h.example",
                           evidence=ev()).id
    assert a.id != Finding(rule="PRIV-001", title="t", scenario="s", variant="unset", host="h.example",
                           evidence=ev(location="body:$.other")).id


def test_redact_never_returns_the_value():
    for value in ("oriane8kq3", "AKIAABCDEFGHIJKLMNOP", "ab", "x"):
        masked = redact(value)
        assert value not in masked or len(value) <= 1
        assert masked.endswith("***")


def test_mask_in_masks_every_occurrence_case_insensitively():
    text = 'user=Oriane8KQ3&again=oriane8kq3'
    out = mask_in(text, "oriane8kq3")
    assert "oriane8kq3" not in out.lower() and out.count("***") == 2


def test_fingerprint_ignores_array_indices():
    a = Finding(rule="PRIV-001", title="t", scenario="s", variant="unset", evidence=ev(location="body:$.batch[0].user"))
    b = Finding(rule="PRIV-001", title="t", scenario="s", variant="unset", evidence=ev(location="body:$.batch[7].user"))
    assert a.id == b.id


def test_digest_forms_of_normal_forms_are_digests():
    assert ev(form="sha256:owner/repo").is_digest and ev(form="md5-b64").is_digest
    assert not ev(form="base64").is_digest
