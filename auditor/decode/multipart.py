"""multipart/form-data (and other multipart/*) bodies: one child per part, named by its field.

Crash reporters upload minidumps and logs this way; each part keeps its own Content-Type and
Content-Transfer-Encoding so that a gzip or base64 part is decoded further.
"""

from __future__ import annotations

import base64
import binascii
import re

from . import Child, Ctx, Layer, Meta, child

_BOUNDARY = re.compile(r'boundary="?([^";]{1,200})"?', re.I)
_NAME = re.compile(rb'\b(?:file)?name\*?="?([^";\r\n]*)"?', re.I)


def _headers(block: bytes) -> dict[bytes, bytes]:
    out = {}
    for line in block.split(b"\n"):
        name, sep, value = line.partition(b":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


class Multipart:
    name = "multipart"

    def applies(self, layer: Layer, meta: Meta) -> bool:
        return meta.content_type.lower().startswith("multipart/")

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx) -> list[Child]:
        m = _BOUNDARY.search(meta.content_type)
        if not m:
            raise ValueError("multipart without boundary")
        delim = b"--" + m.group(1).encode("latin-1", "replace")
        kids: list[Child] = []
        for i, chunk in enumerate(layer.data.split(delim)[1:]):
            if chunk.startswith(b"--"):
                break  # closing delimiter
            head, sep, body = chunk.partition(b"\r\n\r\n")
            if not sep:
                head, sep, body = chunk.partition(b"\n\n")
            if not sep:
                continue
            if body.endswith(b"\r\n"):
                body = body[:-2]
            elif body.endswith(b"\n"):
                body = body[:-1]
            hdrs = _headers(head)
            disp = hdrs.get(b"content-disposition", b"")
            names = _NAME.findall(disp)
            name = names[0].decode("utf-8", "replace") if names else f"part[{i}]"
            if hdrs.get(b"content-transfer-encoding", b"").lower() == b"base64":
                try:
                    body = base64.b64decode(body, validate=False)
                except (binascii.Error, ValueError):
                    pass
            kids.append((child(layer, body, "multipart", name),
                         Meta(content_type=hdrs.get(b"content-type", b"").decode("latin-1"),
                              content_encoding=hdrs.get(b"content-encoding", b"").decode("latin-1"))))
        if not kids:
            raise ValueError("no parts")
        return kids


MULTIPART = Multipart()
