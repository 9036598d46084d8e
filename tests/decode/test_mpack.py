import gzip
import json

import msgpack
import pytest

from auditor.decode import layers

from .helpers import http, stream


def test_msgpack_renders_as_json_with_binary_fields_decoded_apart():
    doc = {"user": "u1", "n": 3, "nested": {"list": ["a", b"\xff\xfe raw"]}, "z": gzip.compress(b"inner")}
    ex = http(body=msgpack.packb(doc), headers=[("Content-Type", "application/msgpack")])
    got = [l for l in layers(ex) if l.part == "body"]
    assert json.loads(got[0].data) == {"user": "u1", "n": 3, "nested": {"list": ["a", "<6 bytes>"]},
                                       "z": f"<{len(doc['z'])} bytes>"}
    assert got[0].chain == ("msgpack",) and got[0].fmt == "json"
    assert [(l.location, l.data, l.chain) for l in got[1:]] == [
        ("body:$.nested.list[1]", b"\xff\xfe raw", ("msgpack",)),
        ("body:$.z", b"inner", ("msgpack", "gzip")),
    ]


def test_unlabelled_msgpack_message():
    got = list(layers(stream("udp", msgpack.packb({"event": "start", "host": "ws-1"}))))
    assert got[0].chain == ("msgpack",) and b'"host":"ws-1"' in got[0].data


@pytest.mark.parametrize("data", [b"\x81\xa1", b"\x80", b"\x91\x01\x02\x03", b"\x85garbage bytes"])
def test_not_msgpack_stays_raw(data):
    got = list(layers(stream("udp", data)))
    assert [l.data for l in got] == [data]
