"""One decode walk per exchange: evidence, fields and parsed documents together.

The analysis needs three things from what a client sent: detector evidence, the structure of the
payload (key names for classification and collector protocols, string leaves as identifier
candidates) and nothing decoded twice. `inspect` walks the layers once (decode.scanned, with the
detectors' locators compiled into the same pass) and, per layer, runs the detectors on the raw
bytes and parses JSON text at most once for its structure.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

from .decode import Budget, Ctx, Layer, Limits, join_path, scanned
from .decode.jsondoc import segment
from .detect import Matcher, dedupe, gather, locators
from .findings import Evidence
from .flowstore import Exchange

# Bounds on structure only (decoding has its own limits): past them a payload still gets every
# detector, but fewer of its fields are identifier candidates.
MAX_PARSE_BYTES = 4 << 20
# A batch repeats one shape: its first records show every field (and identifiers are compared by
# field, not by array slot), so only the first MAX_ITEMS of a list and MAX_DOCS NDJSON lines count.
MAX_DOCS = 10
MAX_ITEMS = 10
MAX_FIELDS = 2000
MAX_PARAMS, MAX_PARAM_BYTES = 200, 2048
MIN_VALUE, MAX_VALUE = 8, 512  # shorter or longer string leaves are words or text, not identifiers


@dataclass(frozen=True)
class Field:
    """A string leaf of a structured part that could be an identifier (MIN_VALUE to MAX_VALUE
    characters): a JSON value, a form, query or cookie value, a header."""

    location: str  # "body:$.batch[*].anonymousId", "query:uid", "header:x-install-id" (slots as [*])
    key: str  # its own name: "anonymousId", "uid", "x-install-id"
    value: str


@dataclass(frozen=True)
class Doc:
    """A parsed JSON document (one NDJSON line is one document) and where it was found."""

    part: str  # body, query, message[3], …
    path: str  # its root inside the part: "" for the body, "$.data[0].ue_px" for an embedded one
    chain: tuple[str, ...]
    value: object

    @property
    def location(self) -> str:
        return f"{self.part}:{self.path}" if self.path else self.part


@dataclass
class Inspection:
    evidence: list[Evidence]
    fields: dict[str, Field] = field(default_factory=dict)  # by location; the first value wins
    raw_keys: set[str] = field(default_factory=set)  # every object key and field name
    params: dict[str, str] = field(default_factory=dict)  # query and form parameters, short ones too
    docs: list[Doc] = field(default_factory=list)
    truncated: bool = False  # MAX_FIELDS or MAX_DOCS reached
    # Decoding or detection limits reached (decode.Ctx.limited): part of the exchange was not
    # inspected, which the analysis reports (SEC-004) and which makes the run incomplete.
    uninspected: list[str] = field(default_factory=list)

    @property
    def keys(self) -> set[str]:
        """Every object key and field name, lower-cased."""
        return {k.lower() for k in self.raw_keys}


def inspect(ex: Exchange, matcher: Matcher | None, notes: list[str] | None = None,
            limits: Limits = Limits(), structure: bool = True, budget: Budget | None = None) -> Inspection:
    """Decode every layer of what the client sent once; detectors and structure from that walk.
    `budget`: what the run may still spend (charged with what this exchange spent)."""
    found: list[Evidence] = []
    out = Inspection(found)
    ctx = Ctx(limits, notes if notes is not None else [], budget=budget)
    try:
        for layer, located in scanned(ex, limits, notes, locators(), ctx=ctx):
            more = gather(layer, matcher, located, found, ctx)
            if structure:
                _structure(layer, out)
            if not more:
                break
    finally:
        ctx.settle()
    out.evidence = dedupe(found)
    out.uninspected = list(ctx.limited)
    return out


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _add(out: Inspection, location: str, key: str, value: str) -> None:
    if location in out.fields:
        return
    if len(out.fields) >= MAX_FIELDS:
        out.truncated = True
    elif MIN_VALUE <= len(value) <= MAX_VALUE:
        out.fields[location] = Field(location, key, value)


def _structure(layer: Layer, out: Inspection) -> None:
    if layer.fmt:
        _json_layer(layer, out)
        return
    part = layer.part
    if part.startswith("header:"):
        if not layer.chain:
            _add(out, part, part[7:], _text(layer.data))
    elif part in ("query", "cookie") or layer.chain[-1:] == ("form",):
        # A form nested in a JSON string sits at "$.data.e"; a top-level name may contain dots.
        name = layer.path.rsplit(".", 1)[-1] if layer.path.startswith("$") else layer.path
        out.raw_keys.add(name)
        if part != "cookie" and len(out.params) < MAX_PARAMS:
            out.params.setdefault(name, _text(layer.data[:MAX_PARAM_BYTES]))
        if MIN_VALUE <= len(layer.data) <= MAX_VALUE * 4:
            _add(out, layer.location, name, _text(layer.data))


def _json_layer(layer: Layer, out: Inspection) -> None:
    data = layer.data
    if len(data) > MAX_PARSE_BYTES:
        return
    lines = _lines(data) if layer.fmt == "ndjson" else [data]
    for i, line in enumerate(lines):
        if len(out.docs) >= MAX_DOCS:
            out.truncated = True
            return
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            continue  # sniffed as JSON but is not: the detectors have seen its bytes all the same
        root = "$[%d]" % i if layer.fmt == "ndjson" else "$"
        path = join_path(layer.path, root) or "$"
        out.docs.append(Doc(layer.part, path if path != "$" else "", layer.chain, value))
        _leaves(layer.part, slots(path), value, out)


def _lines(data: bytes):
    """NDJSON lines, lazily: a batch of thousands is read only as far as MAX_DOCS."""
    start = 0
    while start <= len(data):
        end = data.find(b"\n", start)
        if end < 0:
            end = len(data)
        yield data[start:end]
        start = end + 1


_SLOT = re.compile(r"\[\d+\]")


def slots(location: str) -> str:
    """A location with every array slot as [*]: batches reorder records between runs."""
    return _SLOT.sub("[*]", location)


_segment = functools.lru_cache(maxsize=4096)(segment)


def _leaves(part: str, root: str, value, out: Inspection) -> None:
    """Key names and candidate string leaves of a parsed document, iteratively (its depth is the
    input's). Paths are built only for containers and kept leaves: most leaves are neither."""
    stack = [(root, "", value)]
    keys = out.raw_keys
    while stack:
        path, key, v = stack.pop()
        if isinstance(v, dict):
            keys.update(v)
            items = v.items()
        elif isinstance(v, list):
            if len(v) > MAX_ITEMS:
                out.truncated = True
            items = ((None, sub) for sub in v[:MAX_ITEMS])
        else:
            continue
        deeper = []
        for k, sub in items:
            if isinstance(sub, str):
                if MIN_VALUE <= len(sub) <= MAX_VALUE:
                    _add(out, f"{part}:{path}{_segment(k) if k is not None else '[*]'}",
                         k if k is not None else key, sub)
            elif isinstance(sub, (dict, list)):
                deeper.append((path + (_segment(k) if k is not None else "[*]"), k if k is not None else key, sub))
        stack += reversed(deeper)  # depth first, in document order: the first record's values win
