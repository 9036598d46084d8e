"""Email addresses (PRIV-005): any address that is not a placeholder, a role or a file name."""

from __future__ import annotations

import re

from ..decode.multiscan import Pattern
from . import Hit

_LOCAL_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-"
_DOMAIN = re.compile(rb"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![A-Za-z0-9-])")
# Addresses that name no person: protocol users (git@host is an scp remote), robots, and
# RFC 2606 placeholders. Retina image names (logo@2x.png) look like addresses too.
_ROLES = frozenset({b"git", b"noreply", b"no-reply", b"donotreply", b"do-not-reply", b"root",
                    b"postmaster", b"mailer-daemon", b"hostmaster", b"webmaster", b"abuse", b"nobody"})
_PLACEHOLDER_DOMAINS = frozenset({b"example.com", b"example.org", b"example.net", b"localhost",
                                  b"domain.com", b"email.com"})
_NOT_TLDS = frozenset({b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"js", b"mjs",
                       b"css", b"map", b"json", b"txt", b"html", b"woff", b"woff2", b"ttf", b"py",
                       b"ts", b"tsx", b"jsx", b"md", b"so", b"dll", b"exe", b"zip", b"gz", b"tgz",
                       b"invalid", b"test", b"local", b"internal", b"lan"})


class Email:
    kind = "email"
    category = "personal"
    locators = (Pattern(rb"[A-Za-z0-9._%+-]@[A-Za-z0-9-]{1,63}\.", rb"[A-Za-z0-9._%+-]@[A-Za-z0-9-]{1,63}\."),)

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        at = data.index(b"@", start)
        # The local part is the run of local-part characters that ends at the @ (at most 64 of
        # them): the window up to its last other character, stripped. A regex search for it
        # retries every start position in the window.
        window = max(0, at - 64)
        s = window + len(data[window:at].rstrip(_LOCAL_CHARS))
        dom = _DOMAIN.match(data, at + 1, at + 256)
        if s == at or not dom:
            return None
        lpart, domain = data[s:at], dom.group()
        if lpart.startswith(b".") or lpart.endswith(b".") or b".." in lpart:
            return None
        if s > 0 and data[s - 1:s] in (b":", b"/", b"@"):
            return None  # URL userinfo (scheme://user:pass@host) or a second @
        if lpart.lower() in _ROLES or domain.lower() in _PLACEHOLDER_DOMAINS:
            return None
        if dom.group(1).lower() in _NOT_TLDS:
            return None
        return Hit(self.kind, s, dom.end(), "likely", (lpart + b"@" + domain).lower())


EMAIL = Email()
