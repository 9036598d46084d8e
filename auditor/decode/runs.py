"""Decoders for one encoded run found inside a layer, and the tests that decide whether the
decoded bytes are worth a layer of their own (precision: noise is dropped here)."""

from __future__ import annotations

import binascii
import json
import re

import msgpack

from . import compression, protobuf
from .sniff import is_text

_B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]*={0,2}")
_JSON_STR = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_HEX_RUN = re.compile(rb"[0-9A-Fa-f]*")
_HEX_TEXT = re.compile(rb"(?:[2-7][0-9A-Fa-f]|0[9aAdD])+\Z")
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PROTO_FIRST = frozenset({0x08, 0x0A, 0x10, 0x12, 0x18, 0x1A, 0x20, 0x22})


def b64decode(run: bytes) -> tuple[bytes, str] | None:
    """(decoded, "base64" | "base64url") for a run that is validly either, else None."""
    run = run.rstrip(b"=")
    url = b"-" in run or b"_" in run
    if url and (b"+" in run or b"/" in run):
        return None  # two alphabets mixed: a path or an identifier, not base64
    if len(run) % 4 == 1:
        return None
    if url:
        run = run.translate(_URLSAFE)
    try:
        return binascii.a2b_base64(run + b"=" * (-len(run) % 4)), "base64url" if url else "base64"
    except binascii.Error:
        return None


def plausible(data: bytes) -> bool:
    """Worth decoding further: text, compressed, or a structured binary document."""
    if len(data) < 6:
        return False
    if is_text(data) or compression.sniff(data):
        return True
    if data[0] in _PROTO_FIRST:
        try:
            return protobuf._has_text(protobuf.parse(data))
        except ValueError:
            return False
    if 0x80 <= data[0] <= 0x8F:
        try:
            return isinstance(msgpack.unpackb(data, raw=True, strict_map_key=False), dict)
        except Exception:  # msgpack raises many types on garbage; none of them matter here
            return False
    return False


def mostly_text(data: bytes) -> bool:
    return len(data) >= 40 and len(data.translate(None, _PRINTABLE)) * 10 <= len(data)


Candidate = tuple[int, int, str, bytes]  # (start, end, step, decoded)


def b64_run(data: bytes, s: int, mostly: bool = False) -> Candidate | None:
    run = _B64_RUN.match(data, s).group()
    if not run.rstrip(b"=").translate(None, b"0123456789abcdefABCDEF"):
        return None  # all hex digits: an id or a digest, matched as it is by the detectors
    dec = b64decode(run)
    if not dec:
        return None
    ok = mostly_text(dec[0]) if mostly else plausible(dec[0])
    return (s, s + len(run), dec[1], dec[0]) if ok else None


def hex_run(data: bytes, s: int) -> Candidate | None:
    run = _HEX_RUN.match(data, s).group()
    if len(run) % 2 or not _HEX_TEXT.match(run):
        return None
    dec = bytes.fromhex(run.decode("ascii"))
    return (s, s + len(run), "hex", dec) if plausible(dec) else None


def json_string(data: bytes, s: int) -> Candidate | None:
    m = _JSON_STR.match(data, s)
    if not m:
        return None
    try:
        text = json.loads(m.group())
    except ValueError:
        return None
    return (s, m.end(), "json-string", text.encode("utf-8", "surrogatepass"))
