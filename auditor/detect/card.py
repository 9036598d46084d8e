"""Payment card numbers (PRIV-005): issuer prefix, length and Luhn checksum must all agree."""

from __future__ import annotations

import re

from ..decode.multiscan import Pattern
from . import Hit

_TOKEN = frozenset(b"0123456789 -")
_GROUPED = re.compile(rb"\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}\Z|\d{4}([ -])\d{6}\2\d{4,5}\Z")


def luhn(digits: bytes) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = c - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def issuer_ok(d: bytes) -> bool:
    n, p2, p4 = len(d), int(d[:2]), int(d[:4])
    return ((d[:1] == b"4" and n in (13, 16, 19)) or (51 <= p2 <= 55 and n == 16)
            or (2221 <= p4 <= 2720 and n == 16) or (p2 in (34, 37) and n == 15)
            or ((d[:4] == b"6011" or p2 == 65 or 644 <= int(d[:3]) <= 649) and 16 <= n <= 19)
            or (3528 <= p4 <= 3589 and 16 <= n <= 19) or ((300 <= int(d[:3]) <= 305 or p2 in (36, 38)) and n == 14))


class Card:
    kind = "card"
    category = "personal"
    # A bounded prefix at a token start: digit runs inside hex ids would otherwise fire
    # thousands of times per megabyte.
    locators = (Pattern(rb"(?:^|[^0-9A-Za-z.])[2-6]\d{3}[ -]?\d{4}[ -]?\d{4}[ -]?\d",
                        rb"(?<![0-9A-Za-z.])[2-6]\d{3}[ -]?\d{4}[ -]?\d{4}[ -]?\d"),
                Pattern(rb"(?:^|[^0-9A-Za-z.])3[47]\d\d[ -]?\d{6}[ -]?\d{4}",
                        rb"(?<![0-9A-Za-z.])3[47]\d\d[ -]?\d{6}[ -]?\d{4}"))

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        s, e = start, end
        if not chr(data[s]).isdigit():
            s += 1  # the locator's match includes the delimiter on the left
        while s > 0 and data[s - 1] in _TOKEN:
            s -= 1
        while e < len(data) and data[e] in _TOKEN:
            e += 1
        text = data[s:e].strip(b" -")
        s = data.index(text, s)
        e = s + len(text)
        if (s > 0 and data[s - 1] in b".+,") or (e < len(data) and (data[e] in b".,") and e + 1 < len(data)
                                                  and chr(data[e + 1]).isdigit()):
            return None  # a decimal number, a phone, a list of numbers
        if (s > 0 and chr(data[s - 1]).isalnum()) or (e < len(data) and chr(data[e]).isalnum()):
            return None
        digits = text.replace(b" ", b"").replace(b"-", b"")
        grouped = _GROUPED.match(text) is not None
        if not digits.isdigit() or not issuer_ok(digits) or not luhn(digits):
            return None
        if len(set(digits)) < 4 or (not grouped and len(digits) > 16):
            return None  # 4444…, and long bare ints are 64-bit ids that pass Luhn one time in ten
        if not grouped and text != digits:
            return None  # irregular separators: phone numbers, dates
        return Hit(self.kind, s, e, "likely" if grouped else "possible", digits)


CARD = Card()
