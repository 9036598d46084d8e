"""Protocol Buffers without a schema, and gRPC framing around them.

The wire format says only "field 3 is length-delimited", never whether that is a string, bytes or
a nested message. A length-delimited field is taken as a string when it is text, else as a nested
message when it parses strictly as one, else as bytes (decoded further on its own: often gzip).
The result is rendered as JSON ({"1": "…", "2": {"1": …}}) so one scan covers every field.
"""

from __future__ import annotations

import struct

from . import Child, Ctx, Layer, Meta, child
from .sniff import dumps, is_text, render

_MAX_NESTING = 16
_PROTO_TYPES = ("protobuf", "x-protobuf", "x-protobuffer", "vnd.google.protobuf", "proto")


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7


def parse(data: bytes, depth: int = 0) -> dict:
    """Field number -> list of values; ValueError unless every byte is well-formed."""
    fields: dict[str, list] = {}
    i, n = 0, len(data)
    while i < n:
        tag, i = _varint(data, i)
        field, wire = tag >> 3, tag & 7
        if field < 1 or field > 0x1FFFFFFF:
            raise ValueError("bad field number")
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if i + size > n:
                raise ValueError("truncated fixed field")
            value = struct.unpack_from("<Q" if wire == 1 else "<I", data, i)[0]
            i += size
        elif wire == 2:
            length, i = _varint(data, i)
            if i + length > n:
                raise ValueError("truncated length-delimited field")
            value = _length_delimited(data[i:i + length], depth)
            i += length
        else:  # groups (3, 4) are long deprecated; 6 and 7 do not exist
            raise ValueError(f"wire type {wire}")
        fields.setdefault(str(field), []).append(value)
    return fields


def _length_delimited(payload: bytes, depth: int):
    if not payload or is_text(payload):
        return payload
    if depth < _MAX_NESTING:
        try:
            nested = parse(payload, depth + 1)
            if nested:
                return nested
        except ValueError:
            pass
    return payload  # opaque bytes: render() sets them aside for further decoding


def _has_text(tree) -> bool:
    for values in tree.values():
        for v in values:
            if isinstance(v, bytes) and len(v) >= 4 and is_text(v):
                return True
            if isinstance(v, dict) and _has_text(v):
                return True
    return False


def _flatten(tree: dict) -> dict:
    """A field seen once is a value, not a one-element list: shorter paths ("$.2.1")."""
    out = {}
    for k, values in tree.items():
        vs = [_flatten(v) if isinstance(v, dict) else v for v in values]
        out[k] = vs[0] if len(vs) == 1 else vs
    return out


def _labelled(content_type: str) -> bool:
    ctype = content_type.lower()
    return any(t in ctype for t in _PROTO_TYPES)


class Protobuf:
    name = "protobuf"

    def applies(self, layer: Layer, meta: Meta) -> bool:
        if meta.content_type and _labelled(meta.content_type):
            return True
        data = layer.data
        # Unlabelled: protobuf with strings always has a control byte (a tag or a length).
        return len(data) >= 4 and data[0] & 7 in (0, 1, 2, 5) and data[0] >= 8 and not is_text(data)

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx) -> list[Child]:
        tree = parse(layer.data)
        labelled = _labelled(meta.content_type)
        if not tree or (not labelled and not _has_text(tree)):
            raise ValueError("no protobuf text fields")
        binaries: list[tuple[str, bytes]] = []
        too_deep: list[str] = []
        doc = dumps(render(_flatten(tree), binaries, too_deep=too_deep))
        for where in too_deep[:1]:  # parse() nests 16 deep at most: a guard, not a path taken
            ctx.limit(f"{layer.location}: protobuf nested too deeply at {where}, not decoded")
        kids: list[Child] = [(Layer(doc, layer.part, layer.path, layer.chain + ("protobuf",), "json"), Meta())]
        kids += [(child(layer, data, "protobuf", path), Meta()) for path, data in binaries]
        return kids


class Grpc:
    """gRPC and gRPC-web: 5-byte frame headers (flag, big-endian length) around messages."""

    name = "grpc"

    def applies(self, layer: Layer, meta: Meta) -> bool:
        ctype = meta.content_type.lower()
        return ctype.startswith("application/grpc") and "text" not in ctype

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx) -> list[Child]:
        data, i, kids = layer.data, 0, []
        while i + 5 <= len(data):
            flag, length = data[i], struct.unpack_from(">I", data, i + 1)[0]
            if flag & 0x7E or i + 5 + length > len(data):
                raise ValueError("bad grpc frame")
            frame = data[i + 5:i + 5 + length]
            # Compressed frames (flag 1) carry their codec's magic; the compression decoder
            # recognises it, so they are not labelled protobuf here.
            fmeta = Meta() if flag & 1 else Meta(content_type="application/x-protobuf")
            kids.append((child(layer, frame, "grpc", f"frame[{len(kids)}]"), fmeta))
            i += 5 + length
        if not kids:
            raise ValueError("no grpc frames")
        return kids


PROTOBUF = Protobuf()
GRPC = Grpc()
