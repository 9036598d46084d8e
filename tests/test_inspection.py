"""One decode walk per exchange: evidence, fields and key names together, JSON parsed once."""

import base64
import gzip
import json
import sys

import pytest

from auditor import analysis, catalog, inspection
from auditor.rules import RunFacts
from auditor.detect import Matcher, scan
from auditor.flowstore import Exchange
from auditor.identity import generate

IDENT = generate(5)
MATCHER = Matcher(IDENT)


def post(body: bytes, ctype="application/json", path="/api", host="app.example", headers=()):
    return Exchange(id="1", kind="http", host=host, scheme="https", method="POST", url=f"https://{host}{path}",
                    path=path, tls=True, request_headers=(("Content-Type", ctype), *headers), request_body=body)


EVENT = {"event": "cli_run", "anonymousId": "c7e516e11ea94bd6a4c6c0f0e1a9b2d3", "version": "1.2.3"}


@pytest.mark.parametrize("body, ctype", [
    (json.dumps(EVENT).encode(), "application/json"),
    (json.dumps({"batch": [EVENT]}).encode(), "application/json"),
    (gzip.compress(json.dumps(EVENT).encode()), "application/json"),  # Content-Type only; gzip by magic
    (b"event=cli_run&anonymousId=c7e516e11ea94bd6a4c6c0f0e1a9b2d3", "application/x-www-form-urlencoded"),
    ((json.dumps(EVENT) + "\n" + json.dumps(EVENT)).encode(), "application/x-ndjson"),
])
def test_event_shaped_payload_is_classified_whatever_its_encoding(body, ctype):
    """The JSON body used to be scanned as text only: its keys never reached classification."""
    facts = analysis._exchange_facts(post(body, ctype), MATCHER, analysis.Scope(), [])
    assert catalog.event_shaped(set(facts.event_keys), facts.ex.path)
    assert {"anonymousid", "event"} <= facts.event_keys
    run = RunFacts("s", "unset", "unset", "", [facts], [], None, "", True, "proxy")
    analysis.judge([run])
    assert facts.cls == "telemetry", facts.reason
    assert "event-shaped payload: anonymousid, event" in facts.reason


@pytest.mark.parametrize("body", [
    json.dumps({"name": "x", "items": [1, 2]}).encode(),   # JSON, but no event keys
    b"q=hello&page=2",
])
def test_payload_without_event_keys_is_not_event_shaped(body):
    facts = analysis._exchange_facts(post(body), MATCHER, analysis.Scope(), [])
    assert not catalog.event_shaped(set(facts.event_keys), facts.ex.path)


def test_evidence_is_what_scan_finds():
    inner = base64.b64encode(json.dumps({"host": IDENT.hostname, "user": IDENT.username}).encode()).decode()
    ex = post(gzip.compress(json.dumps({"batch": [{"ctx": inner, "mail": "someone@mail-x.org"}]}).encode()),
              headers=(("Content-Encoding", "gzip"),))
    got = inspection.inspect(ex, MATCHER)
    assert {(e.match, e.location) for e in got.evidence} == {(e.match, e.location) for e in scan(ex, MATCHER)}
    assert {e.match for e in got.evidence} >= {"hostname", "username", "email"}
    assert {e.category for e in got.evidence} == {"confidential", "personal"}


def test_fields_and_keys_from_every_structured_part():
    ex = Exchange(id="1", kind="http", host="a.example", scheme="https", method="POST",
                  url="https://a.example/v1/e?uid=Zq3kR9vX2mLp7TwY4nB8sQ1a&v=2", path="/v1/e", tls=True,
                  request_headers=(("Content-Type", "application/json"), ("X-Install-Id", "abc-12345"),
                                   ("Cookie", "sid=s1-67890; theme=dark")),
                  request_body=json.dumps({"batch": [{"anonymousId": "A1-67890", "props": {"n": 1}}]}).encode())
    got = inspection.inspect(ex, None)
    fields = {(f.location, f.key, f.value) for f in got.fields.values()}
    assert ("body:$.batch[*].anonymousId", "anonymousId", "A1-67890") in fields
    assert ("query:uid", "uid", "Zq3kR9vX2mLp7TwY4nB8sQ1a") in fields
    assert ("header:x-install-id", "x-install-id", "abc-12345") in fields
    assert ("cookie:sid", "sid", "s1-67890") in fields
    assert not [f for f in fields if f[2] in ("dark", "2")]  # too short to be an identifier
    assert {"batch", "anonymousid", "props", "n", "uid", "v", "sid"} <= got.keys
    assert [d.value for d in got.docs] == [{"batch": [{"anonymousId": "A1-67890", "props": {"n": 1}}]}]


def test_embedded_json_is_a_document_at_its_path():
    ue = base64.urlsafe_b64encode(json.dumps({"schema": "iglu:com.acme/e/jsonschema/1-0-0",
                                              "data": {"uid": "u-1-abcdef"}}).encode()).decode().rstrip("=")
    got = inspection.inspect(post(json.dumps({"data": [{"e": "ue", "ue_px": ue}]}).encode()), None)
    inner = [d for d in got.docs if d.path]
    assert [(d.location, d.chain[-2:]) for d in inner] == [("body:$.data[0].ue_px", ("base64", "json"))]
    assert ("body:$.data[*].ue_px.data.uid", "u-1-abcdef") in {(f.location, f.value) for f in got.fields.values()}


def test_json_is_parsed_once_per_document(monkeypatch):
    calls = []
    real = json.loads
    monkeypatch.setattr(inspection.json, "loads", lambda data, *a, **k: calls.append(1) or real(data, *a, **k))
    body = json.dumps({"event": "x", "anonymousId": "c7e516e11ea94bd6a4c6c0f0e1a9b2d3"}).encode()
    analysis._exchange_facts(post(body), MATCHER, analysis.Scope(), [])
    assert len(calls) == 1


def test_structure_is_bounded(monkeypatch):
    monkeypatch.setattr(inspection, "MAX_FIELDS", 10)
    got = inspection.inspect(post(json.dumps({f"k{i}": f"value-{i:04d}" for i in range(50)}).encode()), None)
    assert len(got.fields) == 10 and got.truncated


def test_a_batch_counts_by_field_not_by_slot():
    batch = [{"anonymousId": "same-id-0001", "messageId": f"message-{i:04d}"} for i in range(500)]
    got = inspection.inspect(post(json.dumps({"batch": batch}).encode()), None)
    assert {loc: f.value for loc, f in got.fields.items() if loc.startswith("body")} == {
        "body:$.batch[*].anonymousId": "same-id-0001", "body:$.batch[*].messageId": "message-0000"}
    assert got.truncated  # only the first records were walked


def test_deeply_nested_json_does_not_crash():
    deep = b"[" * 100000 + b"]" * 100000
    got = inspection.inspect(post(deep), None)
    assert got.docs == [] and not [loc for loc in got.fields if loc.startswith("body")]
    assert sys.getrecursionlimit() < 100000  # the parser's RecursionError was caught, not avoided
