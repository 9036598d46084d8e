import base64
import gzip
import hashlib
import json
import uuid

import pytest

from auditor.decode import layers
from auditor.decode.embedded import candidates
from auditor.decode.runs import b64decode

from .helpers import http

TEXT = b'{"email": "someone@mail.example", "n": 1}'


@pytest.mark.parametrize("encoded, step", [
    (base64.b64encode(TEXT), "base64"),
    (base64.b64encode(TEXT).rstrip(b"="), "base64"),
    (base64.b64encode(b"\xfb" + TEXT)[1:], None),  # misaligned: decodes to noise
    (base64.urlsafe_b64encode(TEXT + b"??>>").rstrip(b"="), "base64url"),
    (TEXT.hex().encode(), "hex"),
    (TEXT.hex().upper().encode(), "hex"),
    (base64.b64encode(gzip.compress(TEXT)), "base64"),
])
def test_encoded_runs_inside_text(encoded, step):
    data = b'prefix "' + encoded + b'" suffix'
    found = candidates(data)
    if step is None:
        assert found == []
    else:
        start, end, got_step, decoded = found[0]
        assert got_step == step and data[start:end].rstrip(b"=") == encoded.rstrip(b"=")
        assert TEXT in decoded or decoded.startswith(b"\x1f\x8b")


@pytest.mark.parametrize("negative", [
    b"9fceb02d0ae598e95dc970b74767f19372d61af8",  # a git sha
    hashlib.sha256(b"x").hexdigest().encode(),
    str(uuid.UUID(int=12345678901234567890)).encode(),
    base64.b64encode(hashlib.sha256(b"x").digest()),  # a digest in base64 is binary
    b"kQ8Zr7ofT2mXq1eLwV3nB6cY",  # a random session id
    b"/usr/local/lib/python3.12/site-packages",  # a path in the base64 alphabet
    b"ApplicationInsightsTelemetryChannel",
    b"2024-11-05T12:30:45.123Z",
])
def test_ids_digests_and_words_are_not_decoded(negative):
    assert candidates(b'"' + negative + b'"') == []


def test_jwt_header_and_payload():
    def part(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=")
    token = part({"alg": "HS256"}) + b"." + part({"sub": "user-42", "email": "a@b.example"}) + b".c2lnbmF0dXJl"
    found = candidates(b"Bearer " + token)
    assert [c[2] for c in found] == ["jwt", "jwt"]
    assert b'"sub": "user-42"' in found[1][3]
    # Each part's own span: the token as a whole stays visible to the credential detector.
    assert found[0][1] < found[1][0] and found[1][1] < len(b"Bearer " + token)


@pytest.mark.parametrize("run, ok", [
    (b"QUJD", True), (b"QUJDRA", True), (b"QUJDR", False), (b"ab+c-d", False), (b"", True),
])
def test_b64decode_alignment_and_alphabets(run, ok):
    assert (b64decode(run) is not None) is ok


def test_nested_chain_and_path():
    inner = base64.b64encode(json.dumps({"contact": "x"}).encode()).decode()
    body = gzip.compress(json.dumps({"data": [{"blob": inner}]}).encode())
    ex = http(body=body, headers=[("Content-Encoding", "gzip"), ("Content-Type", "application/json")])
    got = [(l.location, l.chain) for l in layers(ex) if l.part == "body"]
    assert got == [("body", ("gzip", "json")), ("body:$.data[0].blob", ("gzip", "json", "base64", "json"))]


def test_query_value_in_base64url_without_padding():
    value = base64.urlsafe_b64encode(b'{"host": "ws-1"}').rstrip(b"=").decode()
    got = [(l.location, l.chain) for l in layers(http(f"https://t.example/i?e={value}"))]
    assert ("query:e", ("query", "base64url", "json")) in got or ("query:e", ("query", "base64", "json")) in got


def test_json_document_inside_a_json_string():
    inner = json.dumps({"path": "/home/u/src/p"}).replace("/", "\\/")
    data = json.dumps({"event": inner}).encode()
    found = candidates(data)
    assert [(c[2], json.loads(c[3])) for c in found] == [("json-string", {"path": "/home/u/src/p"})]


def test_base64_behind_a_binary_prefix_is_kept_when_mostly_text():
    framed = b"\x80\x00\x01\x15" + json.dumps({"user": "someone", "padding": "x" * 40}).encode()
    found = candidates(b'"' + base64.b64encode(framed) + b'"')
    assert [c[2] for c in found] == ["base64"] and found[0][3] == framed
    assert candidates(b'"' + base64.b64encode(bytes(range(200))) + b'"') == []


def test_decoded_spans_are_recorded_on_the_parent():
    ex = http(body=b'{"a": "' + base64.b64encode(TEXT) + b'"}', headers=[("Content-Type", "application/json")])
    body = [l for l in layers(ex) if l.part == "body"]
    assert body[0].decoded == ((7, 7 + len(base64.b64encode(TEXT))),)
