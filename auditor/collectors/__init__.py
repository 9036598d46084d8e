"""Analytics and error-reporting protocols recognised by their payload, never by their host.

A collector SDK speaks the same protocol whatever domain it posts to (a vendor's own collector, a
self-hosted one, a first-party proxy), so each module here recognises one protocol from what the
client sent: paths, query and form parameters, headers and the parsed JSON documents of the one
decode walk (inspection.Doc). A recognition names the protocol, the events it carries, where the
protocol puts its user/device identifiers, and where it puts vendor keys (write keys, API keys,
DSNs): constants shipped in the program, not identifiers of the user.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Protocol
from urllib.parse import parse_qsl

from ..decode.jsondoc import segment as _segment  # `segment` is the Segment module's name
from ..flowstore import Exchange
from ..inspection import Doc, Inspection, slots


@dataclass(frozen=True)
class Recognition:
    protocol: str  # "snowplow", "segment", …
    evidence: str  # one line a reader can check: "Snowplow tracker protocol: iglu payload_data"
    events: tuple[str, ...] = ()  # event names or types, when the payload shows them
    ids: tuple[str, ...] = ()  # locations ([*] slots) of the protocol's user/device id fields
    keys: tuple[str, ...] = ()  # locations of vendor keys: constants of the program, not trackers


@dataclass(frozen=True)
class Request:
    """What a recogniser sees of one exchange."""

    method: str
    host: str
    path: str  # without the query
    params: dict[str, str]  # query and form parameters (first value of each name)
    headers: dict[str, str]  # lower-cased names
    content_type: str
    docs: tuple[Doc, ...]

    @classmethod
    def of(cls, ex: Exchange, seen: Inspection) -> "Request":
        # Not urlsplit: a hostile URL ("https://a[b.example/") must not stop the recognisers.
        query = dict(parse_qsl(ex.url.split("#", 1)[0].partition("?")[2], keep_blank_values=True))
        headers = {k.lower(): v for k, v in reversed(ex.request_headers)}
        return cls(ex.method, ex.host, ex.path.split("?", 1)[0], {**seen.params, **query}, headers,
                   headers.get("content-type", "").lower(), tuple(seen.docs))


class Collector(Protocol):
    name: str

    def recognise(self, req: Request) -> Recognition | None: ...


# --- helpers shared by the recognisers -----------------------------------------------------------

def records(doc: Doc, *list_keys: str) -> Iterator[tuple[str, dict]]:
    """(location, object) of the document itself when it is an object, of its elements when it is
    a list, and of the elements of its `list_keys` lists (a batch): where events are."""
    value, base = doc.value, doc.location if doc.path else f"{doc.part}:$"
    if isinstance(value, dict):
        yield base, value
        for k in list_keys:
            if isinstance(value.get(k), list):
                for item in value[k]:
                    if isinstance(item, dict):
                        yield f"{base}{_segment(k)}[*]", item
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield f"{base}[*]", item


def at(base: str, *keys: str) -> str:
    """The location of a field below a record: at("body:$.batch[*]", "anonymousId")."""
    return slots(base + "".join(_segment(k) for k in keys))


def present(record: dict, base: str, *names: str) -> tuple[str, ...]:
    """Locations of the names (dotted for nesting: "properties.distinct_id") that the record has."""
    out = []
    for name in names:
        value, keys = record, name.split(".")
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        if value not in (None, ""):
            out.append(at(base, *keys))
    return tuple(out)


def strings(values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v)[:80] for v in values if isinstance(v, str) and v))


from . import amplitude, appinsights, ga4, mixpanel, otlp, posthog, scarf, segment, sentry, snowplow  # noqa: E402

# Specific before general: Segment's batch shape is also what some others accept.
COLLECTORS: tuple[Collector, ...] = (
    snowplow.SNOWPLOW,
    sentry.SENTRY,
    otlp.OTLP,
    appinsights.APPINSIGHTS,
    ga4.GA4,
    amplitude.AMPLITUDE,
    posthog.POSTHOG,
    mixpanel.MIXPANEL,
    segment.SEGMENT,
    scarf.SCARF,
)


def recognise(ex: Exchange, seen: Inspection) -> Recognition | None:
    if ex.kind not in ("http", "websocket"):
        return None
    req = Request.of(ex, seen)
    for c in COLLECTORS:
        try:
            found = c.recognise(req)
        except (AttributeError, TypeError, ValueError, KeyError):
            continue  # a payload shaped almost like the protocol: not this one
        if found:
            return replace(found, ids=tuple(dict.fromkeys(map(slots, found.ids))),
                           keys=tuple(dict.fromkeys(map(slots, found.keys))))
    return None
