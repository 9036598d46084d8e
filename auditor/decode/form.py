"""application/x-www-form-urlencoded bodies (and unlabelled bytes that are plainly k=v&k=v).

Query strings and cookies use the same pair splitting at the exchange level (exchange.py).
"""

from __future__ import annotations

import re

from . import Child, Ctx, Layer, Meta, child
from .exchange import split_pairs

# Only strict k=v&k=v with URL-safe bytes counts when nobody said it was a form, so that prose
# or a query-looking fragment inside a log line is not split apart.
_LOOKS_FORM = re.compile(rb"[\w.\-\[\]%*+]{1,128}=[^&\s]*(?:&[\w.\-\[\]%*+]{1,128}=[^&\s]*)*\Z")
_BASE64_PADDED = re.compile(rb"[A-Za-z0-9+/_-]+={1,2}\Z")  # "a2V5=" is base64, not key=""
_MAX_SNIFF = 1 << 20


class Form:
    name = "form"

    def applies(self, layer: Layer, meta: Meta) -> bool:
        ctype = meta.content_type.lower()
        if "x-www-form-urlencoded" in ctype:
            return True
        if ctype and not ctype.startswith("text/"):
            return False
        data = layer.data
        return (data.find(b"=", 0, 256) >= 0 and len(data) <= _MAX_SNIFF and _LOOKS_FORM.match(data) is not None
                and not _BASE64_PADDED.match(data))

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx) -> list[Child]:
        try:
            text = layer.data.decode("utf-8")
        except UnicodeDecodeError:
            text = layer.data.decode("latin-1")
        kids = [(child(layer, value, "form", name), Meta())
                for name, value in split_pairs(text, "&")]
        if not kids:
            raise ValueError("empty form")
        return kids


FORM = Form()
