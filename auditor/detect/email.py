"""Email addresses (PRIV-005): any address that is not a placeholder, a role or a file name."""

from __future__ import annotations

import re

from ..decode.multiscan import Pattern
from . import Hit

_LOCAL = re.compile(rb"[A-Za-z0-9._%+-]{1,64}\Z")
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
    locators = (Pattern(rb"[A-Za-z0-9._%+-]@[A-Za-z0-9-]{1,63}\.", rb"[A-Za-z0-9._%+-]@[A-Za-z0-9-]{1,63}\."),)

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        at = data.index(b"@", start)
        local = _LOCAL.search(data, max(0, at - 64), at)
        dom = _DOMAIN.match(data, at + 1, at + 256)
        if not local or not dom:
            return None
        lpart, domain = local.group(), dom.group()
        s = local.start()
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
