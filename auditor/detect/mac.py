"""MAC addresses (PRIV-005): a hardware id that follows a person's machine everywhere."""

from __future__ import annotations

from ..decode.multiscan import Pattern
from . import Hit

_HEX = rb"[0-9A-Fa-f]{2}"
_AROUND = frozenset(b"0123456789abcdefABCDEF:-.")
_NOT_DEVICES = frozenset({b"000000000000", b"ffffffffffff"})


class Mac:
    kind = "mac"
    category = "personal"
    locators = tuple(Pattern(rb"%s(?:%s%s){5}" % (_HEX, sep, _HEX), rb"%s(?:%s%s){5}" % (_HEX, sep, _HEX))
                     for sep in (b":", b"-"))

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        # A longer colon-hex run is a certificate fingerprint or an IPv6 address, not a MAC.
        if (start > 0 and data[start - 1] in _AROUND) or (end < len(data) and data[end] in _AROUND):
            return None
        bare = data[start:end].replace(b":", b"").replace(b"-", b"").lower()
        if bare in _NOT_DEVICES or int(bare[:2], 16) & 1:  # multicast bit: not one device
            return None
        # The locally administered bit marks random or virtual addresses (Docker's 02:42:…).
        local = int(bare[:2], 16) & 2
        return Hit(self.kind, start, end, "possible" if local else "likely", bare)


MAC = Mac()
