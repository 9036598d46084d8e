"""Cheap byte-level tests shared by decoders: is this text, and how to render a decoded tree."""

from __future__ import annotations

import json
import re

from .jsondoc import segment

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_text(data: bytes, min_len: int = 1) -> bool:
    """UTF-8 without control characters: what a person or a program would call text."""
    if len(data) < min_len or _CONTROL.search(data):
        return False
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Binary:
    """A non-text leaf of a decoded tree, kept aside to be decoded on its own."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


def render(tree, binaries: list[tuple[str, bytes]], path: str = "$"):
    """A JSON-serialisable copy of tree; bytes become str when text, else are collected with their
    path (and shown as a placeholder) so compressed or nested binary fields are decoded too."""
    if isinstance(tree, (bytes, bytearray)):
        if is_text(bytes(tree)):
            return bytes(tree).decode("utf-8")
        binaries.append((path, bytes(tree)))
        return f"<{len(tree)} bytes>"
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            key = k.decode("utf-8", "replace") if isinstance(k, (bytes, bytearray)) else str(k)
            sub = path + segment(key)
            out[key] = render(v, binaries, sub)
        return out
    if isinstance(tree, (list, tuple)):
        return [render(v, binaries, f"{path}[{i}]") for i, v in enumerate(tree)]
    if isinstance(tree, (str, int, float, bool)) or tree is None:
        return tree
    return repr(tree)


def dumps(tree) -> bytes:
    # ensure_ascii=False keeps non-ASCII values searchable in their plain UTF-8 form.
    return json.dumps(tree, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
