"""The first layers of an exchange: the parts a client controls (URL, query, headers, cookies, body,
websocket/TCP/UDP messages, the DNS question). Responses are never scanned: they are what the
sinkhole or the server said, not what left the machine.
"""

from __future__ import annotations

from typing import Iterator
from urllib.parse import unquote_to_bytes

from ..flowstore import Exchange
from . import Layer, Meta

# Headers that carry protocol mechanics rather than data. Host repeats the URL's host.
_SKIP_HEADERS = frozenset({"host", ":authority", "content-length", "connection", "te",
                           "transfer-encoding", "accept-encoding", "upgrade", "keep-alive",
                           "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"})


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def split_pairs(text: str, sep: str) -> Iterator[tuple[str, bytes]]:
    """name=value pairs with percent-decoding; a bare token is a value with no name.

    Works on the bytes behind text: a header value holds undecodable bytes as lone surrogates
    (surrogateescape), which str-based unquoting would have to encode and would raise on."""
    for pair in text.split(sep):
        pair = pair.strip()
        if not pair:
            continue
        name, eq, value = pair.partition("=")
        if not eq:
            name, value = "", name
        # Names become locations (reports, fingerprints): valid text, undecodable bytes as U+FFFD.
        yield (unquote_to_bytes(_b(name.replace("+", " "))).decode("utf-8", "replace"),
               unquote_to_bytes(_b(value.replace("+", " "))))


def _http(ex: Exchange) -> Iterator[tuple[Layer, Meta]]:
    url = ex.url.split("#", 1)[0]
    base, _, query = url.partition("?")
    if base:
        yield Layer(_b(base), "url"), Meta()
    for name, value in split_pairs(query, "&"):
        yield Layer(value, "query", name, ("query",)), Meta()
    ctype = cenc = ""
    for name, value in ex.request_headers:
        lname = name.lower()
        if lname == "content-type":
            ctype = value
        elif lname == "content-encoding":
            cenc = value
        if lname in _SKIP_HEADERS or not value:
            continue
        if lname == "cookie":
            for cname, cvalue in split_pairs(value, ";"):
                yield Layer(cvalue.strip(b'"'), "cookie", cname, ("cookie",)), Meta()
            continue
        yield Layer(_b(value), f"header:{lname}"), Meta()
    if ex.request_body:
        yield Layer(ex.request_body, "body"), Meta(ctype, cenc)


def seeds(ex: Exchange) -> Iterator[tuple[Layer, Meta]]:
    if ex.kind in ("http", "websocket"):
        yield from _http(ex)
    if ex.kind == "dns":
        if ex.host:
            yield Layer(_b(ex.host), "dns"), Meta()
        return
    client = [(i, m) for i, m in enumerate(ex.messages) if m.from_client and m.content]
    if ex.kind == "tcp":
        # A stream has no message boundaries: a value may straddle two segments.
        data = b"".join(m.content for _, m in client)
        if data:
            yield Layer(data, "stream:client"), Meta()
    else:
        for i, m in client:
            yield Layer(m.content, f"message[{i}]"), Meta()
