"""Layered decoding of what a client sent, with provenance.

Every byte the client sent is offered to the decoders; each decoded piece becomes a `Layer` that
remembers where it came from (`part`, `path`) and what was peeled to reach it (`chain`). Two
kinds of decoder, registered below in explicit tuples:

* whole-layer decoders (compression, multipart, form, msgpack, protobuf) replace a layer by its
  decoded children; the encoded layer itself is not scanned (it is compressed or framed bytes);
* embedded decoders (base64, hex, JWT) find encoded runs *inside* a layer that is still scanned
  as it is, and add the decoded runs as children.

JSON is neither: a JSON layer is scanned as raw text (one pass, C speed) and only a hit is mapped
back to its JSON path (see jsondoc.paths_at). Decoding never raises and never runs away: every
limit (Limits, per exchange, and a Budget shared by a run's exchanges) stops the walk where it is
and is recorded in Ctx.limited, because what lies past a limit was not inspected: the analysis
reports it (SEC-004) and marks the run incomplete, never clean.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol

from ..flowstore import Exchange


@dataclass(frozen=True)
class Layer:
    data: bytes
    part: str  # url, query, header:<name>, cookie, body, message[3], stream:client, dns
    path: str = ""  # field inside the part: "$.batch[0].host", "uid"
    chain: tuple[str, ...] = ()  # layers peeled, outermost first
    # "json" or "ndjson" when data is JSON text whose offsets map to paths: sniffed JSON, and
    # msgpack/protobuf documents, which are rendered as JSON so one scan covers every field.
    fmt: str = ""
    # Byte ranges of data that embedded decoders turned into child layers: what is found there is
    # reported from the child, decoded, and not again from these encoded bytes.
    decoded: tuple[tuple[int, int], ...] = ()

    @property
    def location(self) -> str:
        return f"{self.part}:{self.path}" if self.path else self.part


@dataclass(frozen=True)
class Limits:
    """What one exchange may cost. Past any of these the rest of the exchange is not inspected."""

    max_depth: int = 8  # layers peeled on top of each other (base64 in gzip in JSON …)
    max_layer_bytes: int = 8 << 20  # one layer; a longer one is scanned up to here
    max_ratio: int = 100  # decompressed/compressed, above a 1 MiB floor (bombs)
    max_layers: int = 10000
    max_exchange_bytes: int = 64 << 20  # every layer of the exchange together (many small bombs)
    max_seconds: float = 30.0  # wall clock for the exchange's decoding and detection
    max_evidence: int = 1000  # distinct facts detected in one exchange (a value at another array slot is the same)
    max_hits: int = 50000  # raw detector hits in one exchange


@dataclass
class Budget:
    """What a whole run may still spend, shared by its exchanges: once spent, the remaining
    exchanges are recorded as not inspected instead of being decoded."""

    bytes_left: int = 1 << 30
    seconds_left: float = 600.0
    evidence_left: int = 20000


@dataclass(frozen=True)
class Meta:
    """What the surrounding protocol says about a layer's bytes."""

    content_type: str = ""
    content_encoding: str = ""


@dataclass
class Ctx:
    """Limits and the notes they produce, shared by one exchange's decoding."""

    limits: Limits
    notes: list[str] = field(default_factory=list)
    emitted: int = 0
    budget: Budget | None = None
    # Why part of the exchange was not inspected (each also a note): the analysis turns these
    # into a SEC-004 finding and an incomplete run.
    limited: list[str] = field(default_factory=list)
    decoded_bytes: int = 0
    evidence: int = 0
    hits: int = 0
    facts: set = field(default_factory=set)  # detect.gather's distinct facts
    started: float = field(default_factory=time.monotonic)
    stopped: str = ""  # set when the walk must end: the reason

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def limit(self, text: str) -> None:
        """A limit was reached: text says what was not inspected and which limit."""
        self.note(text)
        if text not in self.limited:
            self.limited.append(text)

    def stop(self, text: str) -> None:
        if not self.stopped:
            self.stopped = text
            self.limit(text)

    def cap(self, compressed_len: int) -> int:
        """Largest output a decompressor may produce from compressed_len bytes."""
        ratio_cap = max(self.limits.max_ratio * compressed_len, 1 << 20)
        return min(self.limits.max_layer_bytes, ratio_cap, max(0, self.bytes_left()))

    def bytes_left(self) -> int:
        left = self.limits.max_exchange_bytes - self.decoded_bytes
        return min(left, self.budget.bytes_left - self.decoded_bytes) if self.budget else left

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> bool:
        """False (with the reason recorded) once the exchange or the run is out of budget."""
        if self.stopped:
            return False
        lim = self.limits
        if self.elapsed() > lim.max_seconds:
            self.stop(f"decoding stopped after {lim.max_seconds:g} s (limit max_seconds); the rest "
                      "of this exchange was not inspected")
        elif self.budget is not None and self.elapsed() > self.budget.seconds_left:
            self.stop("the run's analysis time budget is spent; the rest of this exchange was not inspected")
        elif self.bytes_left() <= 0:
            which = ("max_exchange_bytes" if self.decoded_bytes >= lim.max_exchange_bytes
                     else "the run's decoded-bytes budget")
            self.stop(f"decoding stopped after {self.decoded_bytes} decoded bytes ({which}); the rest "
                      "of this exchange was not inspected")
        return not self.stopped

    def settle(self) -> None:
        """Charge what this exchange spent to the run's budget (call once, at its end)."""
        if self.budget is not None:
            self.budget.bytes_left -= self.decoded_bytes
            self.budget.seconds_left -= self.elapsed()
            self.budget.evidence_left -= self.evidence


Child = tuple[Layer, Meta]


class Decoder(Protocol):
    name: str

    def applies(self, layer: Layer, meta: Meta) -> bool: ...

    def decode(self, layer: Layer, meta: Meta, ctx: Ctx) -> Iterable[Child]: ...  # ValueError: not this format


def join_path(outer: str, inner: str) -> str:
    """Nest a sub-path: ("$.data", "$.contact") -> "$.data.contact"; ("e", "$[0]") -> "e[0]"."""
    if not inner or inner == "$":
        return outer
    if not outer:
        return inner
    if inner.startswith("$"):
        inner = inner[1:]
    return outer + (inner if inner[:1] in (".", "[") else "." + inner)


def child(parent: Layer, data: bytes, step: str, path: str = "") -> Layer:
    return Layer(data=data, part=parent.part, path=join_path(parent.path, path),
                 chain=parent.chain + ((step,) if step else ()))


from . import compression, embedded, exchange, form, jsondoc, mpack, multipart, protobuf  # noqa: E402

# Order matters: framing and compression first, then container formats, msgpack before protobuf
# because a protobuf walk accepts more byte strings by accident than msgpack does.
WHOLE: tuple[Decoder, ...] = (
    compression.CONTENT_ENCODING,
    compression.MAGIC,
    protobuf.GRPC,
    multipart.MULTIPART,
    form.FORM,
    mpack.MSGPACK,
    protobuf.PROTOBUF,
)
EMBEDDED: tuple = (embedded.EMBEDDED,)


# What one pass over a layer's bytes found: hits of embedded.PATTERNS (for the embedded
# decoders) and whatever else the caller's database holds (detect: heuristic locators).
Locate = Callable[[bytes], "tuple[list[tuple[int, int, int]], object]"]


def _embedded_only(data: bytes) -> tuple[list[tuple[int, int, int]], None]:
    return embedded.PATTERNS.scan(data), None


def layers(ex: Exchange, limits: Limits = Limits(), notes: list[str] | None = None,
           ctx: Ctx | None = None) -> Iterator[Layer]:
    """Every layer of what the client sent in this exchange."""
    for layer, _ in scanned(ex, limits, notes, ctx=ctx):
        yield layer


def scanned(ex: Exchange, limits: Limits = Limits(), notes: list[str] | None = None,
            locate: Locate = _embedded_only, ctx: Ctx | None = None) -> Iterator[tuple[Layer, object]]:
    """Every layer, with what `locate` found in its bytes.

    The embedded decoders need one pass over each layer to find encoded runs and detection needs
    another for its locators; a caller that compiles both into one database (detect.scan does)
    gets both from a single pass, and its share of the hits rides along with the layer.
    A caller that passes its own `ctx` learns which limits were reached (ctx.limited)."""
    if ctx is None:
        ctx = Ctx(limits, notes if notes is not None else [])
    return _walk([(seed, meta, 0) for seed, meta in exchange.seeds(ex)], ctx, locate)


def _walk(todo: list[tuple[Layer, Meta, int]], ctx: Ctx, locate: Locate) -> Iterator[tuple[Layer, object]]:
    # An explicit stack rather than recursive generators: a layer yielded from depth d would pass
    # through d suspended generators, a cost paid on every small flow. Children are pushed in
    # reverse so that layers come out in the same depth-first order as a recursive walk.
    lim = ctx.limits
    whole = [(dec, dec.applies) for dec in WHOLE]
    stack = todo[::-1]
    while stack:
        layer, meta, depth = stack.pop()
        if ctx.emitted >= lim.max_layers:
            ctx.stop(f"stopped after {lim.max_layers} layers (limit max_layers); the rest was not decoded")
        if not ctx.check():
            return  # the reason is in ctx.limited
        if len(layer.data) > lim.max_layer_bytes:
            ctx.limit(f"{layer.location}: {len(layer.data)} bytes, only the first {lim.max_layer_bytes} "
                      "scanned (limit max_layer_bytes)")
            layer = Layer(layer.data[:lim.max_layer_bytes], layer.part, layer.path, layer.chain, layer.fmt,
                          layer.decoded)
        if len(layer.data) > ctx.bytes_left():
            ctx.stop(f"{layer.location}: not scanned, {len(layer.data)} bytes past the exchange's or the "
                     f"run's decoded-bytes budget (limit max_exchange_bytes {lim.max_exchange_bytes})")
            return
        ctx.decoded_bytes += len(layer.data)
        deeper = depth < lim.max_depth
        replaced = False
        for dec, applies in whole:
            if not applies(layer, meta):
                continue
            if not deeper:
                ctx.limit(f"{layer.location}: {dec.name} not decoded at depth {depth} (limit max_depth)")
                break
            try:
                kids = list(dec.decode(layer, meta, ctx))
            except ValueError:
                continue  # not this format after all: let the next decoder try
            except Exception as e:  # a decoder bug must not lose the rest of the exchange
                ctx.limit(f"{layer.location}: internal error in decoder {dec.name}: {type(e).__name__}: {e}")
                continue
            stack += [(kid, kid_meta, depth + 1) for kid, kid_meta in reversed(kids)]
            replaced = True
            break
        if replaced:
            continue
        if not layer.fmt:
            layer = jsondoc.classify(layer, meta)
        emb_hits, extra = locate(layer.data)
        kids: list[Child] = []
        spans: list[tuple[int, int]] = []
        if deeper:
            if emb_hits:  # nothing located, nothing embedded: the decoders would find no run
                for emb in EMBEDDED:
                    try:
                        found, covered = emb.decode(layer, meta, ctx, emb_hits)
                    except Exception as e:  # a decoder bug must not lose the rest of the exchange
                        ctx.limit(f"{layer.location}: internal error in decoder {emb.name}: {type(e).__name__}: {e}")
                        continue
                    kids += found
                    spans += covered
        elif emb_hits:
            ctx.limit(f"{layer.location}: encoded values not decoded at depth {depth} (limit max_depth)")
        ctx.emitted += 1
        if spans:
            layer = Layer(layer.data, layer.part, layer.path, layer.chain, layer.fmt, tuple(spans))
        yield layer, extra
        if kids:
            stack += [(kid, kid_meta, depth + 1) for kid, kid_meta in reversed(kids)]
