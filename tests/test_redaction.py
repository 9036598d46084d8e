"""Masking by detected span (auditor/redaction.py): every form of a canary and every credential
recognised by its format, in URLs, details, hosts and locations; linear in the text."""

import base64
import gzip
import json
import time
from urllib.parse import quote

import pytest

from auditor.findings import Evidence, Finding
from auditor.redaction import Redactor

from .captures import AWS_KEY, IDENTITY as I, JWT, STRIPE_KEY, b64, leaks

R = Redactor([I])


@pytest.mark.parametrize("value", [
    I.email, I.email.upper(), quote(I.project_path, safe=""), b64(I.email), I.hostname.encode().hex(),
    AWS_KEY, STRIPE_KEY, JWT, I.github_token,
])
def test_a_value_in_any_form_is_masked_in_a_url_path_and_query(value):
    for url in (f"https://app.example/v1/{value}/e", f"https://app.example/e?x=1&v={value}&y=2"):
        masked = R.url(url)
        assert leaks(masked) == [] and value not in masked
        assert masked.startswith("https://app.example/")


def test_a_query_value_that_carried_evidence_is_masked_whole():
    ev = Evidence("canary", "email", "query:d", layers=("query", "base64", "gzip", "json"))
    url = "https://app.example/e?d=H4sIAAAAAAAA_opaque_to_the_matcher&keep=plain"
    assert R.url(url, [ev]) == "https://app.example/e?d=H4s***&keep=plain"


def test_decoded_path_runs_are_masked_when_they_held_evidence():
    from auditor.detect import Matcher, scan
    from auditor.flowstore import Exchange

    run = base64.urlsafe_b64encode(gzip.compress(json.dumps({"user": I.email}).encode())).decode()
    url = f"https://app.example/t/{run}"
    evidence = scan(Exchange(id="f", kind="http", host="app.example", url=url, method="GET"), Matcher(I))
    assert [e.location for e in evidence] == ["url:$.user"] and leaks(url) == []  # only decoding finds it
    assert run not in R.url(url, evidence)
    assert run not in R.url(url, uninspected=True)
    innocent = b64('{"user": "someone", "x": 1}')
    assert innocent in R.url(f"https://app.example/t/{innocent}")  # nothing found in it: shown


def test_a_public_address_as_the_host_is_kept_but_not_in_the_path():
    assert R.url("http://198.51.100.7/x") == "http://198.51.100.7/x"
    assert "93.184.216.34" not in R.url("http://198.51.100.7/geo?ip=93.184.216.34")
    assert R.text("93.184.216.34", host=True) == "93.184.216.34"


def test_finding_fields_are_masked_and_the_id_is_kept():
    url = f"https://app.example/v1/e?u={quote(I.email)}"
    ev = Evidence("canary", "email", f'body:$["{I.email}"]', excerpt="x***")
    f = Finding("PRIV-001", "t", "s", "unset", host=I.fqdn, url=url, evidence=ev,
                detail=f"POST {url} sent ({AWS_KEY})")
    g = R.finding(f, R.url(url, [ev]))
    assert g.id == f.id
    assert leaks(" ".join([g.url, g.detail, g.host, g.evidence.location])) == []


def test_masking_is_linear_in_the_url():
    url = "https://app.example/q?" + "&".join(f"p{i}={quote(I.email)}" for i in range(5000))
    evidence = [Evidence("canary", "email", f"query:p{i}") for i in range(5000)]
    start = time.perf_counter()
    masked = R.url(url, evidence)
    assert time.perf_counter() - start < 10
    assert leaks(masked) == [] and masked.count("***") == 5000
    start = time.perf_counter()
    for i in range(1000):  # every finding of the exchange reuses the URL masked once
        g = R.finding(Finding("PRIV-001", "t", "s", "unset", url=url, detail=f"email at query:p{i}"), masked_url=masked)
    assert g.url == masked and time.perf_counter() - start < 5
