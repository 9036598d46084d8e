"""Public IP addresses (PRIV-005). Private, loopback, link-local, documentation and other
non-global ranges are not personal data; neither is a four-part version number."""

from __future__ import annotations

import functools
import ipaddress
import re

from ..decode.multiscan import Pattern
from . import Hit

_V4_TOKEN = frozenset(b"0123456789.")
_V6_TOKEN = frozenset(b"0123456789abcdefABCDEF:.")
# "version": "1.2.3.4", Chrome/120.0.0.0, build 4.1.2.7: a dotted quad right after these is a
# version, whatever ipaddress says about it.
_VERSION_HINT = re.compile(rb"(?i)(?:\bv|ver|version|release|build|rev)[\"'\s:=_]*\Z|/\Z")
_OCTET = rb"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_QUAD = re.compile(rb"(?:%s\.){3}%s\Z" % (_OCTET, _OCTET))


def _token(data: bytes, start: int, end: int, chars: frozenset) -> tuple[int, int]:
    while start < end and data[start] not in chars:
        start += 1  # a locator's match may include the delimiter on the left
    while start > 0 and data[start - 1] in chars:
        start -= 1
    while end < len(data) and data[end] in chars:
        end += 1
    return start, end


@functools.lru_cache(maxsize=4096)
def _public_v4(text: bytes) -> bool:
    # ipaddress is slow to construct and the same few addresses recur across a capture.
    addr = ipaddress.IPv4Address(text.decode())
    return addr.is_global and not addr.is_multicast


class IPv4:
    kind = "ipv4"
    category = "personal"
    # Where the field's name is not in the data (form, query, cookie, protobuf), the layer's
    # path still tells a version field from an address field.
    negative_fields = re.compile(r"(?i)(?:^|[^a-z])(?:v|ver|version|release|build|rev)(?:$|[^a-z])|version")
    locators = (Pattern(rb"(?:^|[^0-9.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d", rb"(?<![0-9.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d"),)

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        s, e = _token(data, start, end, _V4_TOKEN)
        text = data[s:e]
        if not _QUAD.match(text):
            return None  # 1.2.3.4.5, 10.0.19045.1, leading dots or zeros: versions and counters
        if _VERSION_HINT.search(data, max(0, s - 16), s) or (e < len(data) and chr(data[e]).isalnum()):
            return None
        if s > 0 and chr(data[s - 1]).isalpha():
            return None
        if len(text) == 7:  # four one-digit octets
            # 1.2.3.4 is far more often a version than an address; the public addresses of that
            # shape (1.1.1.1, 8.8.8.8, 9.9.9.9) are resolvers, not anyone's personal data.
            return None
        if not _public_v4(text):
            return None
        return Hit("ipv4-public", s, e, "likely")


class IPv6:
    kind = "ipv6"
    category = "personal"
    # Global unicast is 2000::/3, always written with a 4-digit first group: the locator cannot
    # fire on times (12:30:45), MACs or link-local fe80:: addresses.
    locators = (Pattern(rb"[23][0-9a-fA-F]{3}:[0-9a-fA-F]{0,4}:", rb"[23][0-9a-fA-F]{3}:[0-9a-fA-F]{0,4}:"),)

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        s, e = _token(data, start, end, _V6_TOKEN)
        text = data[s:e].rstrip(b".:")
        e = s + len(text)
        if s > 0 and chr(data[s - 1]).isalnum() or (e < len(data) and chr(data[e]).isalnum()):
            return None
        try:
            addr = ipaddress.IPv6Address(text.decode())
        except ValueError:
            return None
        if not addr.is_global or addr.is_multicast:
            return None
        return Hit("ipv6-public", s, e, "likely", str(addr).encode())


IPV4 = IPv4()
IPV6 = IPv6()
