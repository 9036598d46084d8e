"""The walk over an exchange's layers (auditor/decode/__init__.py): order, and one pass per layer
shared with the caller (decode.scanned)."""

import base64
import gzip
import json

from auditor.decode import Limits, layers, scanned
from auditor.decode.embedded import PATTERNS

from .helpers import http


def nested():
    inner = base64.b64encode(json.dumps({"contact": "someone", "n": 1}).encode()).decode()
    doc = {"a": inner, "b": [inner, "plain"], "c": inner}
    return http("https://t.example/e?x=" + inner, body=gzip.compress(json.dumps(doc).encode()),
                headers=[("Content-Encoding", "gzip"), ("Content-Type", "application/json")])


def test_layers_come_depth_first_parent_before_children():
    got = [(l.location, l.chain) for l in layers(nested())]
    assert got == [
        ("url", ()),
        ("query:x", ("query",)), ("query:x", ("query", "base64", "json")),
        ("header:content-encoding", ()), ("header:content-type", ()),
        ("body", ("gzip", "json")),
        ("body:$.a", ("gzip", "json", "base64", "json")),
        ("body:$.b[0]", ("gzip", "json", "base64", "json")),
        ("body:$.c", ("gzip", "json", "base64", "json")),
    ]


def test_scanned_gives_the_same_layers_and_carries_the_callers_share():
    seen = []

    def locate(data):
        seen.append(data)
        return PATTERNS.scan(data), len(data)

    pairs = list(scanned(nested(), Limits(), [], locate))
    assert [l for l, _ in pairs] == list(layers(nested()))
    assert [extra for _, extra in pairs] == [len(l.data) for l, _ in pairs]
    assert seen == [l.data for l, _ in pairs]  # one pass per scanned layer, none for replaced ones


def test_embedded_decoding_uses_only_the_callers_pass():
    # A caller whose pass finds nothing gets no embedded children: the decoders do not scan again.
    pairs = list(scanned(nested(), Limits(), [], lambda data: ([], None)))
    assert all("base64" not in l.chain for l, _ in pairs)
