import base64
import time

from auditor.decode import Layer, Limits, layers

from .helpers import http


def nested_base64(depth):
    data = b'{"deep": "value"}'
    for _ in range(depth):
        data = b'{"x": "' + base64.b64encode(data) + b'"}'
    return data


def test_depth_limit_stops_with_a_note():
    notes = []
    got = list(layers(http(body=nested_base64(12)), Limits(max_depth=4), notes))
    assert max(len(l.chain) for l in got) <= 2 * 4 + 1
    assert any("max_depth" in n for n in notes)


def test_layer_count_limit():
    body = b"\n".join(b'"' + base64.b64encode(b"text number %d here" % i) + b'"' for i in range(50))
    notes = []
    got = list(layers(http(body=body), Limits(max_layers=10), notes))
    assert len(got) == 10 and any("max_layers" in n for n in notes)


def test_oversized_layer_is_truncated_with_a_note():
    notes = []
    got = [l for l in layers(http(body=b"a" * 5000), Limits(max_layer_bytes=1000), notes) if l.part == "body"]
    assert len(got[0].data) == 1000 and any("max_layer_bytes" in n for n in notes)


def test_deep_nesting_is_fast():
    start = time.perf_counter()
    list(layers(http(body=nested_base64(30))))
    assert time.perf_counter() - start < 2


def test_location():
    assert Layer(b"", "body", "$.a").location == "body:$.a"
    assert Layer(b"", "url").location == "url"
