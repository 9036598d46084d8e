"""Captured text made safe to show: one helper for the terminal, HTML, XML and Markdown alike.

Everything a program under test sends or prints is attacker-controlled. Characters that can hide
or reorder what a reader sees (bidi overrides, zero-width marks), break a single-line context
(newlines, tabs), drive a terminal (ESC and every other C0/C1 control) or make a file unparseable
(NUL is not allowed in XML 1.0; lone surrogates cannot be encoded as UTF-8) are shown as escapes,
never obeyed. Kept free of heavy imports: the CLI uses it before anything else is loaded.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
    "\ufffe\uffff\ud800-\udfff]"
)


def _escape_char(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}"


def printable(text: object) -> str:
    """Captured text with every invisible or structure-breaking character shown as an escape.

    Idempotent: the escapes are plain ASCII, so applying it twice changes nothing.
    """
    return _UNSAFE.sub(_escape_char, str(text))


def clip(text: object, limit: int = 200) -> str:
    """printable(text), cut to about `limit` characters with a note of how much was cut."""
    s = printable(text)
    if len(s) <= limit:
        return s
    return f"{s[:limit]}… (+{len(s) - limit} chars)"
