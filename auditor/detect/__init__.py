"""Detection over decoded layers: canary values of the planted identity, and heuristics for what no
canary covers (personal data by format, credentials by format).

Each heuristic module declares *locators* (regexes that find where to look) and a `verify` that
decides, on a small window, whether the place holds the real thing. All locators of all
heuristics are compiled into one database together with the decoders' embedded-run locators, and
scan() reads each layer once for both (decode.scanned), so adding a detector costs a pattern, not
a pass. Verification runs only where a locator fired: negatives such as version strings, private
addresses and timestamps are rejected there.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from typing import Iterator, Protocol

from ..decode import Ctx, Layer, Limits, embedded, jsondoc, join_path, scanned
from ..decode.multiscan import Pattern, PatternSet
from ..findings import Evidence, digest, looks_like_id, redact
from ..flowstore import Exchange
from ..identity import category
from .canary import CanaryHit, Matcher

__all__ = ["Matcher", "scan", "scan_layer", "Hit", "HEURISTICS", "CATEGORIES", "locators", "layer_evidence", "gather",
           "dedupe"]
CATEGORIES = ("personal", "confidential", "credential")


@dataclass(frozen=True)
class Hit:
    match: str  # heuristic kind: "email", "ipv4-public", "github-token", …
    start: int
    end: int
    confidence: str = "likely"
    value: bytes = b""  # normalised value for the digest; the matched bytes when empty
    category: str = ""  # the detector's, filled in on verification


class Heuristic(Protocol):
    kind: str  # the family, for docs and tests
    category: str  # personal | confidential | credential: which rule family its hits feed
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


class _Locators:
    """Embedded-run locators (for the decoders) and every heuristic's locators in one database, so
    each layer's bytes are read once for both. Ids below `n_embedded` are embedded.PATTERNS'."""

    def __init__(self) -> None:
        emb = embedded.PATTERNS.patterns
        self.n_embedded = len(emb)
        # Per global id: (heuristic, locator index, negative_fields or None); None for embedded ids.
        self.owners: list = [None] * len(emb)
        for h in HEURISTICS:
            if getattr(h, "category", None) not in CATEGORIES:
                raise TypeError(f"detector {h.kind!r} declares no category (one of {', '.join(CATEGORIES)})")
            self.owners += [(h, i, getattr(h, "negative_fields", None)) for i in range(len(h.locators))]
        self.set = PatternSet(list(emb) + [h.locators[i] for h, i, _ in self.owners[len(emb):]])

    def __call__(self, data: bytes) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """(embedded hits, heuristic hits) of one pass over data."""
        hits = self.set.scan(data)
        if not hits:
            return hits, hits
        n = self.n_embedded
        return [h for h in hits if h[0] < n], [h for h in hits if h[0] >= n]


_engine: _Locators | None = None


def locators() -> _Locators:
    """The one compiled database of embedded-run and heuristic locators (built on first use)."""
    return _locators()


def _locators() -> _Locators:
    global _engine
    if _engine is None:
        _engine = _Locators()
    return _engine


_LAST_FIELD = re.compile(r"([^.\[\]\"$:]+)[\]\"]*$")


def field_name(path: str) -> str:
    m = _LAST_FIELD.search(path)
    return m.group(1) if m else ""


def heuristic_hits(data: bytes, field: str = "") -> list[Hit]:
    """Verified heuristic hits, one per span and kind, longest first where they overlap."""
    return _verified(data, _locators()(data)[1], field)


def _verified(data: bytes, located: list[tuple[int, int, int]], field: str | None, path: str = "") -> list[Hit]:
    """Verify located hits. `field` None: the field name is taken from `path`, only if a detector
    with negative fields has a hit (the lookup is a regex: most layers never need it)."""
    if not located:
        return []
    owners = _locators().owners
    seen: dict[tuple[str, int, int], Hit] = {}
    for idx, start, end in located:
        det, which, negative = owners[idx]
        hit = det.verify(data, start, end, which)
        if hit is None:
            continue
        if not hit.category:
            hit = replace(hit, category=det.category)
        if negative is not None:
            if field is None:
                field = field_name(path)
            if field and negative.search(field):
                continue
        seen.setdefault((hit.match, hit.start, hit.end), hit)
    if not seen:
        return []
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
    out: list[Evidence] = []
    layer_evidence(layer, matcher, _locators()(layer.data)[1], out)
    return iter(out)


CONTEXT = 48  # bytes of the decoded layer shown either side of a match
MAX_CONTEXTS = 50  # per layer: a payload repeating a value 10,000 times needs no 10,000 contexts


class Masks:
    """Spans of a layer to mask in contexts, (start, end, label), found near a window by bisection."""

    def __init__(self, spans):
        self.spans = sorted(spans)
        self.starts = [s for s, _, _ in self.spans]
        self.longest = max((e - s for s, e, _ in self.spans), default=0)

    def near(self, lo: int, hi: int) -> list[tuple[int, int, str]]:
        i = bisect.bisect_left(self.starts, lo - self.longest)
        j = bisect.bisect_left(self.starts, hi)
        return [m for m in self.spans[i:j] if m[1] > lo]


def context(data: bytes, start: int, end: int, masks) -> tuple[str, str]:
    """The text around data[start:end] as (before, after), each masked span replaced by its label.

    A mask that reaches into the window is replaced whole, so a value cut by the window's edge is
    never shown in part; the match itself is left out (the excerpt shows it, masked)."""
    masks = masks if isinstance(masks, Masks) else Masks(masks)
    lo, hi = max(0, start - CONTEXT), min(len(data), end + CONTEXT)
    near = masks.near(lo, hi)

    def part(a: int, b: int) -> str:
        out, pos = [], a
        for s, e, label in near:
            if e <= pos or s >= b or (s, e) == (start, end):
                continue
            if s > pos:
                out.append(_text(data[pos:s]))
            out.append(label)
            pos = e
        if pos < b:
            out.append(_text(data[pos:b]))
        return "".join(out)

    # The window's edges never cut a word or token: a part of an identifier is still a part of it.
    # (A masked span is replaced whole anyway.)
    def masked(i: int) -> bool:
        return any(s < i < e for s, e, _ in near)

    while 0 < lo < start and not masked(lo) and _WORD.match(data, lo - 1) and _WORD.match(data, lo):
        lo += 1
    while end < hi < len(data) and not masked(hi) and _WORD.match(data, hi - 1) and _WORD.match(data, hi):
        hi -= 1
    # A mask that covers the match (a canary inside a JWT) starts the window where it starts.
    lo = min([lo] + [s for s, e, _ in near if s < start < e])
    before, after = (_ID_TOKEN.sub(_mask_id, t) for t in (part(lo, start), part(end, hi)))
    return ("…" * (lo > 0) + before, after + "…" * (hi < len(data)))


_ID_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")
_WORD = re.compile(rb"[A-Za-z0-9_-]")


def _mask_id(m: re.Match) -> str:
    # An identifier the program made up (install id, session id) is no canary, but it tracks: the
    # finding that reports it masks it, so a neighbouring finding's context does too.
    return redact(m.group(), 4) if looks_like_id(m.group()) else m.group()


def _inside(start: int, end: int, spans) -> bool:
    for s, e in spans:
        if s <= start and end <= e:
            return True
    return False


def layer_evidence(layer: Layer, matcher: Matcher | None, located: list[tuple[int, int, int]],
                   out: list[Evidence], room: int = 1 << 30) -> bool:
    """Evidence of one layer, given what its heuristic locators found, appended to out: at most
    `room` items; False when more were found than that (the rest is not reported)."""
    data = layer.data
    found: list[CanaryHit] = matcher.find(data) if matcher is not None else []
    canary = found
    decoded = layer.decoded
    if decoded and canary:  # found again, decoded, in the child layers of these spans
        canary = [c for c in canary if not _inside(c.start, c.end, decoded)]
    # A heuristic hit inside a canary hit is the same fact, less precisely (the planted email seen
    # as "an email"); a canary inside a larger heuristic token (a JWT) is a second fact.
    heur = _verified(data, located, None, layer.path) if located else []
    if heur and (canary or decoded):
        spans = [(c.start, c.end) for c in canary] + list(decoded)
        heur = [h for h in heur if not _inside(h.start, h.end, spans)]
    if not canary and not heur:
        return True
    # Everything known in this layer is masked in a context: every canary form (also those inside
    # encoded runs), every heuristic hit, and each encoded run as a whole (base64 of a host name
    # is the host name).
    masks = Masks([(c.start, c.end, redact(_text(data[c.start:c.end]))) for c in found]
                  + [(h.start, h.end, redact(_text(data[h.start:h.end]))) for h in heur]
                  + [(s, e, f"⟨{e - s} bytes, decoded below⟩") for s, e in decoded])
    complete = len(canary) + len(heur) <= room
    if not complete:  # before the path mapping: its cost grows with the number of hits
        canary = canary[:room]
        heur = heur[:max(0, room - len(canary))]
    starts = [c.start for c in canary] + [h.start for h in heur]
    paths = jsondoc.paths_at(layer, starts) if layer.fmt else [""] * len(starts)
    chain = layer.chain
    for i, (c, path) in enumerate(zip(canary, paths)):
        out.append(Evidence(
            detector="heuristic" if c.guessed else "canary",
            match=f"digest-of:{c.key}" if c.guessed else c.key,
            location=_location(layer, path), layers=chain, form=c.form, excerpt=redact(_text(data[c.start:c.end])),
            value_digest=matcher.value_digest(c.key), confidence=c.confidence, category=category(c.key),
            context=context(data, c.start, c.end, masks) if i < MAX_CONTEXTS else ()))
    for i, (h, path) in enumerate(zip(heur, paths[len(canary):])):
        matched = data[h.start:h.end]
        out.append(Evidence(
            detector="heuristic", match=h.match,
            location=_location(layer, path), layers=chain, form="plain", excerpt=redact(_text(matched)),
            value_digest=digest(h.value or matched), confidence=h.confidence, category=h.category,
            context=context(data, h.start, h.end, masks) if len(canary) + i < MAX_CONTEXTS else ()))
    return complete


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


_SLOT = re.compile(r"\[\d+\]")


def gather(layer: Layer, matcher: Matcher | None, located: list[tuple[int, int, int]],
           found: list[Evidence], ctx: Ctx) -> bool:
    """layer_evidence within the exchange's (and the run's) caps. A fact seen again in another
    array slot (the user name in each of 500 batched events) is one fact, kept once; max_hits
    bounds the raw hits, max_evidence the distinct facts. False once a cap is reached: the walk
    must stop, and ctx records that the rest was not inspected."""
    lim = ctx.limits
    cap = lim.max_evidence
    if ctx.budget is not None:
        cap = min(cap, max(0, ctx.budget.evidence_left))
    before = len(found)
    complete = layer_evidence(layer, matcher, located, found, lim.max_hits - ctx.hits)
    ctx.hits += len(found) - before
    new = found[before:]
    del found[before:]
    for ev in new:
        key = (ev.detector, ev.match, ev.form, ev.value_digest, _SLOT.sub("[*]", ev.location))
        if key not in ctx.facts:
            ctx.facts.add(key)
            found.append(ev)
    ctx.evidence = len(found)
    if complete and len(found) < cap:
        return True
    which = "max_hits" if not complete else "max_evidence, or the run's budget"
    ctx.stop(f"{layer.location}: detection stopped after {ctx.hits} hits, {len(found)} distinct ({which}); "
             "the rest of this exchange was not inspected")
    del found[cap:]
    return False


def scan(ex: Exchange, matcher: Matcher | None, notes: list[str] | None = None,
         limits: Limits = Limits(), ctx: Ctx | None = None) -> list[Evidence]:
    """Decode every layer of what the client sent and run every detector on it. With a `ctx`
    (and its run Budget), the caller learns which limits left part of the exchange uninspected."""
    if ctx is None:
        ctx = Ctx(limits, notes if notes is not None else [])
    found: list[Evidence] = []
    for layer, located in scanned(ex, ctx.limits, notes, _locators(), ctx=ctx):
        if not gather(layer, matcher, located, found, ctx):
            break
    return dedupe(found)
