"""Random and malformed bytes through the whole decode+detect path: no exception, no runaway."""

import base64
import gzip
import json
import time
import zlib

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.decode import Limits
from auditor.detect import Matcher, scan
from auditor.flowstore import Exchange, Message
from auditor.identity import generate

M = Matcher(generate(seed=9))
CTYPES = ["", "application/json", "application/x-ndjson", "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=b", "multipart/form-data", "application/msgpack",
          "application/x-protobuf", "application/grpc", "text/plain", "application/octet-stream"]
ENCODINGS = ["", "gzip", "deflate", "br", "zstd", "gzip, br", "bogus", "identity"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


def wrap(kind: str, data: bytes) -> bytes:
    """Valid outer layers around arbitrary insides: the decoders must go deep, then fail softly."""
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "zlib":
        return zlib.compress(data)
    if kind == "b64":
        return b'{"x": "' + base64.b64encode(data) + b'"}'
    if kind == "truncated-gzip":
        return gzip.compress(data)[: max(3, len(data) // 2)]
    if kind == "msgpack":
        return msgpack.packb({"k": data, "s": "text value"})
    return data


payloads = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.tuples(st.sampled_from(["gzip", "zlib", "b64", "truncated-gzip", "msgpack", "raw"]),
              st.binary(max_size=512)).map(lambda t: wrap(*t)),
)


def check(ex: Exchange) -> None:
    notes: list[str] = []
    start = time.perf_counter()
    scan(ex, M, notes, Limits(max_layer_bytes=1 << 20))
    assert time.perf_counter() - start < 2.0
    assert not [n for n in notes if "internal error" in n], notes


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=payloads, ctype=st.sampled_from(CTYPES), enc=st.sampled_from(ENCODINGS),
       query=st.text(max_size=40), cookie=st.text(max_size=40))
def test_http_fuzz(body, ctype, enc, query, cookie):
    headers = tuple((k, v) for k, v in (("Content-Type", ctype), ("Content-Encoding", enc), ("Cookie", cookie)) if v)
    check(Exchange(id="f", kind="http", host="h", url="https://h/p?" + query, method="POST",
                   request_headers=headers, request_body=body))


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(["tcp", "udp", "websocket", "dns"]), msgs=st.lists(payloads, max_size=4),
       host=st.text(max_size=60))
def test_stream_fuzz(kind, msgs, host):
    check(Exchange(id="f", kind=kind, host=host, messages=tuple(Message(True, m) for m in msgs)))
