"""Credentials recognised by their format (CONF-002): cloud keys, VCS and registry tokens, chat
tokens, JWTs, private keys. Only formats with a fixed prefix or structure: a generic "high
entropy string" rule reports every session id and git sha (detect-secrets found 144,442 such
"secrets" in 20 MB of ordinary telemetry), so there is none here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from ..decode.multiscan import Pattern
from . import Hit

_TOKEN_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

# (kind, locator, exact regex, confidence). The exact regex is matched at the locator's start.
_FORMATS = (
    ("aws-access-key", rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}", rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}", "likely"),
    ("aws-secret-key", rb"aws.?secret.?access.?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}",
     rb"(?i)aws.?secret.?access.?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})", "certain"),
    ("github-token", rb"gh[pousr]_[A-Za-z0-9]{36}", rb"gh[pousr]_[A-Za-z0-9]{36}", "certain"),
    ("github-token", rb"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", rb"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", "certain"),
    ("npm-token", rb"npm_[A-Za-z0-9]{36}", rb"npm_[A-Za-z0-9]{36}", "certain"),
    ("gitlab-token", rb"glpat-[A-Za-z0-9_-]{20}", rb"glpat-[A-Za-z0-9_-]{20,}", "certain"),
    ("pypi-token", rb"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50}", rb"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}", "certain"),
    ("slack-token", rb"xox[abposr]-[0-9A-Za-z]{8}", rb"xox[abposr]-(?:[0-9A-Za-z]+-){1,5}[0-9A-Za-z]+", "likely"),
    ("slack-webhook", rb"hooks\.slack\.com/services/T[A-Z0-9]{6}",
     rb"hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}", "certain"),
    ("stripe-key", rb"[sr]k_live_[0-9a-zA-Z]{20}", rb"[sr]k_live_[0-9a-zA-Z]{20,}", "certain"),
    ("jwt", rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8}", rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", "likely"),
    ("private-key", rb"-----BEGIN[A-Z ]{0,24} PRIVATE KEY(?: BLOCK)?-----",
     rb"-----BEGIN[A-Z ]{0,24} PRIVATE KEY(?: BLOCK)?-----", "certain"),
)
_EXACT = [re.compile(exact) for _, _, exact, _ in _FORMATS]
# Documentation examples are everywhere in SDK code and error messages.
_EXAMPLES = (b"example", b"x" * 8, b"0" * 16)  # matched in the lower-cased token


def _jwt_header_ok(token: bytes) -> bool:
    head = token.split(b".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + b"=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and ("alg" in header or "typ" in header)


class Credentials:
    kind = "credential"
    category = "credential"
    locators = tuple(Pattern(loc, exact.replace(b"(?i)", b""), kind == "aws-secret-key")
                     for kind, loc, exact, _ in _FORMATS)

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        kind, _, _, confidence = _FORMATS[which]
        m = _EXACT[which].match(data, start, min(len(data), start + 8192))
        if not m:
            return None
        s, e = m.span(m.lastindex or 0)
        if kind != "private-key":
            # Part of a longer token is not this format (the key name before a secret may be).
            if kind != "aws-secret-key" and start > 0 and data[start - 1] in _TOKEN_CHARS:
                return None
            if e < len(data) and data[e] in _TOKEN_CHARS:
                return None
        token = data[s:e]
        # Substring tests on the lower-cased token: a caseless regex alternation retried at every
        # position cost tens of microseconds on a long JWT.
        low = token.lower()
        if any(marker in low for marker in _EXAMPLES):
            return None
        if kind == "jwt":
            if not _jwt_header_ok(token):
                return None
            if token.endswith(b"."):
                confidence = "possible"  # unsigned ("alg": "none"): still a bearer credential?
        return Hit(kind, s, e, confidence)


CREDENTIALS = Credentials()
