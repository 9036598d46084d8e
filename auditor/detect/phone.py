"""Phone numbers (PRIV-005), only in forms that say "phone": E.164 with a leading + and
North-American (NXX) NXX-XXXX. Bare digit runs are ids, counters and timestamps far more often."""

from __future__ import annotations

import re

from ..decode.multiscan import Pattern
from . import Hit

_E164 = re.compile(rb"\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,6}")
_NANP = re.compile(rb"\(([2-9]\d\d)\) ?([2-9]\d\d)[-. ](\d{4})")
_BEFORE_OK = frozenset(b" \t\r\n\"'=:,;([{<>") | {0}


class Phone:
    kind = "phone"
    category = "personal"
    locators = (Pattern(rb"(?:^|[^0-9A-Za-z/+=])\+[1-9]\d{0,2}[ .(-]{0,2}\d",
                        rb"(?<![0-9A-Za-z/+=])\+[1-9]\d{0,2}[ .(-]{0,2}\d"),
                Pattern(rb"\([2-9]\d\d\) ?[2-9]\d\d[-. ]\d{4}", rb"\([2-9]\d\d\) ?[2-9]\d\d[-. ]\d{4}"))

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        if data[start] not in b"+(":
            start += 1  # the locator's match includes the delimiter on the left
        # Inside base64 or after a number ("1e+10", "abc+123…") a plus sign is not a phone's.
        if start > 0 and data[start - 1] not in _BEFORE_OK:
            return None
        m = (_E164 if which == 0 else _NANP).match(data, start, start + 40)
        if not m:
            return None
        text = m.group().rstrip(b" .-(")
        e = start + len(text)
        if e < len(data) and (chr(data[e]).isalnum() or data[e] in b":+/"):
            return None  # 12:30, a longer token, a path
        digits = bytes(c for c in text if 48 <= c <= 57)
        if which == 0 and not 8 <= len(digits) <= 15:
            return None
        if len(set(digits)) < 3:
            return None  # +1111111111 and the like are fillers
        return Hit(self.kind, start, e, "likely", b"+" + digits if which == 0 else digits)


PHONE = Phone()
