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


MAX_NESTING = 100  # levels of a decoded tree rendered; json.dumps recurses, and so would a walk


def render(tree, binaries: list[tuple[str, bytes]], path: str = "$", too_deep: list[str] | None = None):
    """A JSON-serialisable copy of tree; bytes become str when text, else are collected with their
    path (and shown as a placeholder) so compressed or nested binary fields are decoded too.

    Iterative (msgpack nests up to 1024 levels, more than Python's recursion limit); subtrees
    below MAX_NESTING levels are replaced by a placeholder and their paths appended to too_deep."""
    root: list = [None]
    # (value, container to fill, key or index in it, path, depth)
    todo: list = [(tree, root, 0, path, 0)]
    while todo:
        value, into, slot, where, depth = todo.pop()
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
            if is_text(data):
                into[slot] = data.decode("utf-8")
            else:
                binaries.append((where, data))
                into[slot] = f"<{len(data)} bytes>"
        elif isinstance(value, (dict, list, tuple)) and depth >= MAX_NESTING:
            if too_deep is not None:
                too_deep.append(where)
            into[slot] = f"<nested deeper than {MAX_NESTING} levels>"
        elif isinstance(value, dict):
            out: dict = {}
            into[slot] = out
            items = []
            for k, v in value.items():
                key = k.decode("utf-8", "replace") if isinstance(k, (bytes, bytearray)) else str(k)
                out[key] = None  # keeps the document's key order
                items.append((v, out, key, where + segment(key), depth + 1))
            todo += reversed(items)
        elif isinstance(value, (list, tuple)):
            lst = [None] * len(value)
            into[slot] = lst
            todo += [(v, lst, i, f"{where}[{i}]", depth + 1) for i, v in reversed(list(enumerate(value)))]
        elif isinstance(value, (str, int, float, bool)) or value is None:
            into[slot] = value
        else:
            into[slot] = repr(value)
    return root[0]


def dumps(tree) -> bytes:
    # ensure_ascii=False keeps non-ASCII values searchable in their plain UTF-8 form.
    return json.dumps(tree, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
