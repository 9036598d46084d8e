import gzip
import zlib

import brotli
import pytest

from auditor.decode import Limits, layers
from auditor.decode.compression import sniff

try:
    from compression import zstd
except ImportError:
    from backports import zstd

from .helpers import http

DOC = b'{"user": "someone"}'


@pytest.mark.parametrize("encoding, body, chain", [
    ("gzip", gzip.compress(DOC), ("gzip", "json")),
    ("x-gzip", gzip.compress(DOC), ("gzip", "json")),
    ("deflate", zlib.compress(DOC), ("deflate", "json")),
    ("deflate", zlib.compress(DOC)[2:-4], ("deflate", "json")),  # raw deflate, as some servers send
    ("br", brotli.compress(DOC), ("br", "json")),
    ("zstd", zstd.compress(DOC), ("zstd", "json")),
    ("gzip, br", brotli.compress(gzip.compress(DOC)), ("br", "gzip", "json")),
    ("identity", DOC, ("json",)),
])
def test_content_encodings(encoding, body, chain):
    ex = http(body=body, headers=[("Content-Type", "application/json"), ("Content-Encoding", encoding)])
    body_layers = [l for l in layers(ex) if l.part == "body"]
    assert [(l.data, l.chain) for l in body_layers] == [(DOC, chain)]


@pytest.mark.parametrize("data, codec", [
    (gzip.compress(b"x"), "gzip"), (zstd.compress(b"x"), "zstd"), (zlib.compress(b"x"), "zlib"),
    (b'{"a": 1}', ""), (b"x^ is a valid zlib header", "zlib"), (b"x_ is not", ""), (b"\x1f\x8b", ""), (b"", ""),
])
def test_magic_sniffing(data, codec):
    assert sniff(data) == codec


def test_unlabelled_gzip_is_found_by_magic():
    ex = http(body=gzip.compress(b"plain text inside"))
    assert [(l.data, l.chain) for l in layers(ex) if l.part == "body"] == [(b"plain text inside", ("gzip",))]


def test_corrupt_compressed_body_is_scanned_as_it_is():
    bad = b"\x1f\x8b\x08" + b"\xff" * 40
    notes = []
    ex = http(body=bad, headers=[("Content-Encoding", "gzip")])
    assert [l.data for l in layers(ex, notes=notes) if l.part == "body"] == [bad]
    assert not any("internal error" in n for n in notes)


def test_decompression_bomb_is_cut_with_a_note():
    bomb = gzip.compress(b"\0" * (40 << 20))  # 40 MiB of zeros in ~40 kB
    notes = []
    ex = http(body=bomb, headers=[("Content-Encoding", "gzip")])
    out = [l for l in layers(ex, Limits(max_ratio=100), notes) if l.part == "body"]
    assert len(out) == 1 and len(out[0].data) == max(100 * len(bomb), 1 << 20)
    assert any("gzip output cut" in n for n in notes)
