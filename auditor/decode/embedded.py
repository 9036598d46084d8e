"""Encoded runs inside a layer: base64, base64url (padded or not), hex, and JWTs.

Precision first: only runs that could be the encoding (length, alphabet) are tried, and a decoded
run becomes a layer only when the result is text, compressed, or a strict protobuf/msgpack
document. Random ids, hex digests and session tokens decode to noise and are dropped: they are
matched as they are by the detectors (digests of canary values are literal patterns).
"""

from __future__ import annotations

import re

from . import Child, Ctx, Layer, Meta, join_path, jsondoc
from .multiscan import Pattern, PatternSet
from .runs import b64_run, b64decode, hex_run, json_string
from .sniff import is_text

# Base64 of 7-bit bytes (text, JSON, most protobuf) constrains three of every four characters:
# the top bit of each byte is 0. Requiring that of the first three groups rejects 511 of 512
# random tokens inside hyperscan, before any Python runs. Compressed payloads start with their
# own magic instead (H4sI gzip, KLUv zstd, eJ/eN zlib).
_G = rb"[A-Za-f][A-HQ-Xg-nwxyz0-3][ABEFIJMNQRUVYZcdghklopstwx014589][A-Za-z0-9+/_-]"
_LEFT = rb"(?:^|[^A-Za-z0-9+_=-])"  # "/" may precede a run: /v1/eyJ… is a path, then base64
_B64 = 0
_HEX = 1
_JWT = 2
_MAGIC64 = 3
_LONG64 = 4
_JSON_STRING = 5
# Locators match a bounded prefix at a token boundary only: hyperscan with start-of-match on an
# unbounded run is 3x slower, and Python finds the run's end with one regex match.
PATTERNS = PatternSet([
    Pattern(_LEFT + rb"(?:" + _G + rb"){3}", rb"(?<![A-Za-z0-9+_=-])(?:" + _G + rb"){3}"),
    # Hex of ASCII text: every byte pair starts with 2-7 (or is a tab/newline), which random ids
    # and digests almost never do for 8 pairs in a row.
    Pattern(rb"(?:^|[^0-9A-Fa-f])(?:[2-7][0-9A-Fa-f]|0[9aAdD]){8}",
            rb"(?<![0-9A-Fa-f])(?:[2-7][0-9A-Fa-f]|0[9aAdD]){8}"),
    Pattern(rb"ey[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8}", rb"ey[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8}"),
    Pattern(_LEFT + rb"(?:H4sI|KLUv|eJ|eN)[A-Za-z0-9+/_-]{8}",
            rb"(?<![A-Za-z0-9+_=-])(?:H4sI|KLUv|eJ|eN)[A-Za-z0-9+/_-]{8}"),
    # Runs that open with a short binary header (a length prefix, a frame type: up to 6 bytes)
    # and continue as text: the groups after the header are 7-bit again.
    Pattern(rb"(?:^|[^A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{8}(?:" + _G + rb"){4}",
            rb"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{8}(?:" + _G + rb"){4}"),
    # A JSON document inside a JSON string ("{\"a\": …}"): its escapes hide values from literal
    # matching (a path is \\/home\\/… there), so the string is unescaped into its own layer.
    Pattern(rb'"[\{\[]\\"', rb'"[\{\[]\\"'),
])
_JWT_RUN = re.compile(rb"ey[A-Za-z0-9_-]+\.ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-=")
_HEX_CHARS = frozenset(b"0123456789abcdefABCDEF")


def candidates(data: bytes, hits: list[tuple[int, int, int]] | None = None) -> list[tuple[int, int, str, bytes]]:
    """Each plausible encoded run, in order of offset, none inside another. `hits`: what
    PATTERNS found in data, when the caller's own pass already located them."""
    if hits is None:
        hits = PATTERNS.scan(data)
    if not hits:
        return []
    hits = sorted(hits, key=lambda h: (h[1], h[0]))
    out: list[tuple[int, int, str, bytes]] = []
    taken: list[tuple[int, int]] = []
    for kind, s, _ in hits:  # JWTs first, so that their base64 parts are not decoded twice
        m = _JWT_RUN.match(data, s) if kind == _JWT else None
        if m and not (taken and s < taken[-1][1]):
            taken.append(m.span())
            start = s
            for part in m.group().split(b".")[:2]:
                dec = b64decode(part)
                if dec and is_text(dec[0]):
                    out.append((start, start + len(part), "jwt", dec[0]))
                start += len(part) + 1
    for kind, s, _ in hits:
        if kind == _JWT:
            continue
        if kind == _HEX:
            s += data[s] not in _HEX_CHARS  # the locator's match includes the delimiter on the left
        elif kind != _JSON_STRING and (data[s] not in _B64_CHARS or data[s] == 0x2F):
            s += 1
        if any(ts <= s < te for ts, te in taken):
            continue
        cand = hex_run(data, s) if kind == _HEX else json_string(data, s) if kind == _JSON_STRING \
            else b64_run(data, s, mostly=kind == _LONG64)
        if cand:
            out.append(cand)
            taken.append((cand[0], cand[1]))
    return sorted(out, key=lambda c: c[0])


class Embedded:
    name = "embedded"

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx,
               hits: list[tuple[int, int, int]] | None = None) -> tuple[list[Child], list[tuple[int, int]]]:
        """Children, and the spans of the layer they decode (hits there are the children's)."""
        found = candidates(layer.data, hits)
        if not found:
            return [], []
        paths = jsondoc.paths_at(layer, [c[0] for c in found]) if layer.fmt else [""] * len(found)
        kids: list[Child] = []
        for (_, _, step, dec), path in zip(found, paths):
            where = join_path(layer.path, path)
            if step == "jwt":
                where = join_path(where, "jwt")
            kids.append((Layer(dec, layer.part, where, layer.chain + (step,)), Meta()))
        return kids, sorted({(c[0], c[1]) for c in found})


EMBEDDED = Embedded()
