"""Detection over decoded layers: canary values of the planted identity, and heuristics for what no
canary covers (personal data by format, credentials by format).

Each heuristic module declares *locators* (regexes that find where to look) and a `verify` that
decides, on a small window, whether the place holds the real thing. All locators of all
heuristics run as one compiled database per layer, so adding a detector costs a pattern, not a
pass. Verification runs only where a locator fired: negatives such as version strings, private
addresses and timestamps are rejected there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Protocol

from ..decode import Layer, Limits, jsondoc, join_path, layers
from ..decode.multiscan import Pattern, PatternSet
from ..findings import Evidence, digest, redact
from ..flowstore import Exchange
from .canary import CanaryHit, Matcher

__all__ = ["Matcher", "scan", "scan_layer", "Hit", "HEURISTICS"]


@dataclass(frozen=True)
class Hit:
    match: str  # heuristic kind: "email", "ipv4-public", "github-token", …
    start: int
    end: int
    confidence: str = "likely"
    value: bytes = b""  # normalised value for the digest; the matched bytes when empty


class Heuristic(Protocol):
    kind: str  # the family, for docs and tests
    locators: tuple[Pattern, ...]
    # Optional `negative_fields: re.Pattern`: field names (the last step of a layer's path) under
    # which this detector's hits are not what they look like ("version": "1.2.3.4").

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None: ...


from . import card, credentials, email, geo, mac, network, phone  # noqa: E402

HEURISTICS: tuple[Heuristic, ...] = (
    email.EMAIL,
    network.IPV4,
    network.IPV6,
    mac.MAC,
    phone.PHONE,
    geo.GEO,
    card.CARD,
    credentials.CREDENTIALS,
)

_engine: tuple[PatternSet, list[tuple[Heuristic, int]]] | None = None


def _locators() -> tuple[PatternSet, list[tuple[Heuristic, int]]]:
    global _engine
    if _engine is None:
        owners = [(h, i) for h in HEURISTICS for i in range(len(h.locators))]
        _engine = (PatternSet([h.locators[i] for h, i in owners]), owners)
    return _engine


_LAST_FIELD = re.compile(r"([^.\[\]\"$:]+)[\]\"]*$")


def field_name(path: str) -> str:
    m = _LAST_FIELD.search(path)
    return m.group(1) if m else ""


def heuristic_hits(data: bytes, field: str = "") -> list[Hit]:
    """Verified heuristic hits, one per span and kind, longest first where they overlap."""
    patterns, owners = _locators()
    seen: dict[tuple[str, int, int], Hit] = {}
    for idx, start, end in patterns.scan(data):
        det, which = owners[idx]
        hit = det.verify(data, start, end, which)
        negative = getattr(det, "negative_fields", None)
        if hit is not None and field and negative is not None and negative.search(field):
            continue
        if hit is not None:
            seen.setdefault((hit.match, hit.start, hit.end), hit)
    hits = sorted(seen.values(), key=lambda h: (h.start, h.start - h.end))
    kept: list[Hit] = []
    for h in hits:
        if any(k.match == h.match and k.start <= h.start and h.end <= k.end for k in kept[-8:]):
            continue
        kept.append(h)
    return kept


def _location(layer: Layer, sub_path: str) -> str:
    path = join_path(layer.path, sub_path)
    return f"{layer.part}:{path}" if path else layer.part


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def scan_layer(layer: Layer, matcher: Matcher | None) -> Iterator[Evidence]:
    data = layer.data
    canary: list[CanaryHit] = matcher.find(data) if matcher is not None else []
    decoded = layer.decoded
    if decoded:  # found again, decoded, in the child layers of these spans
        canary = [c for c in canary if not any(s <= c.start and c.end <= e for s, e in decoded)]
    spans = [(c.start, c.end) for c in canary] + list(decoded)
    # A heuristic hit inside a canary hit is the same fact, less precisely (the planted email seen
    # as "an email"); a canary inside a larger heuristic token (a JWT) is a second fact.
    heur = [h for h in heuristic_hits(data, field_name(layer.path))
            if not any(s <= h.start and h.end <= e for s, e in spans)]
    if not canary and not heur:
        return
    starts = [c.start for c in canary] + [h.start for h in heur]
    paths = jsondoc.paths_at(layer, starts) if layer.fmt else [""] * len(starts)
    for c, path in zip(canary, paths):
        yield Evidence(
            detector="heuristic" if c.guessed else "canary",
            match=f"digest-of:{c.key}" if c.guessed else c.key,
            location=_location(layer, path), layers=layer.chain, form=c.form, excerpt=redact(_text(data[c.start:c.end])),
            value_digest=digest(matcher.values[c.key]), confidence=c.confidence)
    for h, path in zip(heur, paths[len(canary):]):
        matched = data[h.start:h.end]
        yield Evidence(
            detector="heuristic", match=h.match,
            location=_location(layer, path), layers=layer.chain, form="plain", excerpt=redact(_text(matched)),
            value_digest=digest(h.value or matched), confidence=h.confidence)


def _within(inner: str, outer: str) -> bool:
    return inner == outer or (inner.startswith(outer) and inner[len(outer)] in ":.[")


def dedupe(evidence: list[Evidence]) -> list[Evidence]:
    """One evidence per fact. The same value seen both encoded in a layer and decoded in a layer
    peeled from it (base64 in $.data, then plain in $.data's JSON) is reported once, decoded."""
    unique: dict[tuple, Evidence] = {}
    for ev in evidence:
        unique.setdefault((ev.detector, ev.match, ev.value_digest, ev.location, ev.form), ev)
    evs = list(unique.values())
    groups: dict[tuple, list[Evidence]] = {}
    for ev in evs:
        groups.setdefault((ev.detector, ev.match, ev.value_digest), []).append(ev)
    out = []
    for ev in evs:
        n = len(ev.layers)
        if any(len(o.layers) > n and o.layers[:n] == ev.layers and _within(o.location, ev.location)
               for o in groups[(ev.detector, ev.match, ev.value_digest)]):
            continue
        out.append(ev)
    return out


def scan(ex: Exchange, matcher: Matcher | None, notes: list[str] | None = None,
         limits: Limits = Limits()) -> list[Evidence]:
    """Decode every layer of what the client sent and run every detector on it."""
    found: list[Evidence] = []
    for layer in layers(ex, limits, notes):
        found.extend(scan_layer(layer, matcher))
    return dedupe(found)
