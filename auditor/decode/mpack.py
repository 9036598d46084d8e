"""MessagePack bodies and messages, rendered as one JSON layer (paths come for free)."""

from __future__ import annotations

import msgpack

from . import Child, Ctx, Layer, Meta, child, join_path
from .sniff import MAX_NESTING, dumps, is_text, render

_CONTAINER_START = frozenset(range(0x80, 0xA0)) | {0xDC, 0xDD, 0xDE, 0xDF}


def _unpack(data: bytes):
    # Raw bytes for both str and bin: strings that are not UTF-8 must not abort the decode.
    # The msgpack library bounds container sizes by the input length, so no bomb here.
    return msgpack.unpackb(data, raw=True, strict_map_key=False, use_list=True)


def _has_string(tree, depth: int = 0) -> bool:
    if isinstance(tree, (bytes, bytearray)):
        return len(tree) >= 3
    if depth > 32:
        return False
    if isinstance(tree, dict):
        return any(_has_string(k, depth + 1) or _has_string(v, depth + 1) for k, v in tree.items())
    if isinstance(tree, list):
        return any(_has_string(v, depth + 1) for v in tree)
    return False


class MsgPack:
    name = "msgpack"

    def applies(self, layer: Layer, meta: Meta) -> bool:
        if "msgpack" in meta.content_type.lower():
            return True
        # Unlabelled: only a container that is not text could be msgpack worth decoding.
        data = layer.data
        return len(data) >= 4 and data[0] in _CONTAINER_START and not is_text(data)

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx) -> list[Child]:
        try:
            tree = _unpack(layer.data)
        except (ValueError, msgpack.UnpackException, TypeError, OverflowError, RecursionError) as e:
            raise ValueError(f"not msgpack: {e}") from None
        if not isinstance(tree, (dict, list)) or not _has_string(tree):
            raise ValueError("msgpack without strings")
        binaries: list[tuple[str, bytes]] = []
        too_deep: list[str] = []
        doc = dumps(render(tree, binaries, too_deep=too_deep))
        for where in too_deep[:1]:
            ctx.limit(f"{layer.part}:{join_path(layer.path, where)}: msgpack nested deeper than {MAX_NESTING} "
                      "levels, not decoded (limit sniff.MAX_NESTING)")
        kids: list[Child] = [(Layer(doc, layer.part, layer.path, layer.chain + ("msgpack",), "json"), Meta())]
        kids += [(child(layer, data, "msgpack", path), Meta()) for path, data in binaries]
        return kids


MSGPACK = MsgPack()
