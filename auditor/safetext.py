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


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST = re.compile(rf"(?=.{{1,253}}\.?\Z){_LABEL}(?:\.{_LABEL})*\.?\Z")


def is_host_name(text: str) -> bool:
    """A DNS name or an IP address: what may go into an allowlist line as it is (a captured name
    with a newline in a label would otherwise add a line of its own)."""
    import ipaddress

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return _HOST.match(text) is not None
