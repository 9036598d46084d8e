import gzip
import json
import struct

import pytest

from auditor.decode import layers
from auditor.decode.protobuf import parse

from .helpers import http, stream


def ld(field, payload):
    return bytes([field << 3 | 2, len(payload)]) + payload


def varint(field, value):
    return bytes([field << 3]) + bytes([value]) if value < 128 else bytes([field << 3, value & 0x7F | 0x80, value >> 7])


MSG = ld(1, b"ws-host-1") + ld(2, ld(1, b"nested text") + varint(2, 300)) + ld(3, b"a") + ld(3, b"b") \
    + bytes([4 << 3 | 5]) + struct.pack("<I", 7)


def test_schema_less_walk():
    ex = http(body=MSG, headers=[("Content-Type", "application/x-protobuf")])
    got = [l for l in layers(ex) if l.part == "body"]
    assert got[0].chain == ("protobuf",) and got[0].fmt == "json"
    assert json.loads(got[0].data) == {"1": "ws-host-1", "2": {"1": "nested text", "2": 300}, "3": ["a", "b"], "4": 7}


def test_unlabelled_protobuf_in_a_tcp_stream_and_binary_field_decoded_apart():
    msg = ld(1, b"hello there") + ld(2, gzip.compress(b"zipped"))
    got = [(l.location, l.chain) for l in layers(stream("tcp", msg))]
    assert got == [("stream:client", ("protobuf",)), ("stream:client:$.2", ("protobuf", "gzip"))]


def test_grpc_frames():
    body = b"\x00" + struct.pack(">I", len(MSG)) + MSG
    ex = http(body=body, headers=[("Content-Type", "application/grpc")])
    got = [l for l in layers(ex) if l.part == "body"]
    assert got[0].location == "body:frame[0]" and got[0].chain == ("grpc", "protobuf")


@pytest.mark.parametrize("data", [
    b"\x0a\x05abc",  # length past the end
    b"\x0b\x01",  # wire type 3 (group)
    b"\x00\x01",  # field number 0
    b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # varint too long
])
def test_malformed_protobuf_is_rejected(data):
    with pytest.raises(ValueError):
        parse(data)


@pytest.mark.parametrize("data", [b"\x08\x01\x10\x02", b"plain text is not protobuf", bytes(range(256))])
def test_things_that_are_not_protobuf_with_text_stay_raw(data):
    assert [l.data for l in layers(stream("udp", data))] == [data]
