"""Masking of everything derived from capture before it reaches a report: by detected span, not
by known value.

A finding's URL, detail and evidence location, an endpoint's host, a problem or a note are built
from captured text. Masking only the planted identity's plain values there (as the reports once
did) left a %-encoded, base64 or hex canary whole, left every credential recognised by its format
(AKIA…, sk_live_…, JWTs) whole, and re-scanned every URL once per value per finding. Here every
text is scanned once with the same engines that found the values in traffic:

* the canary matcher (every form of every planted value: plain, any case, %-encoded,
  JSON-escaped, base64 at each alignment, hex, digests) and the heuristic detectors
  (credentials, e-mail addresses, phone numbers, card numbers, public addresses, coordinates)
  find spans, each masked as `redact` masks an excerpt (`ws-***`);
* a URL's query value is masked whole when its parameter carried evidence, and the encoded runs
  of its path (base64, hex, JWT — what the embedded decoders decode) are masked when a value was
  found only after decoding them, or when the exchange was not fully inspected: what was not
  looked at cannot be vouched for.

A URL is masked once per exchange (the analysis passes it to each of the exchange's findings),
however many findings it has: linear time.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Iterable

from .decode import embedded
from .detect import Matcher, heuristic_hits
from .findings import Finding, redact
from .identity import Identity

# A host name is the destination, not data about the user: a public address there is where the
# program connected. Credentials and canaries are masked there all the same.
_HOST_KINDS_KEPT = frozenset({"ipv4-public", "ipv6-public"})


def _spans_masked(data: bytes, spans: list[tuple[int, int]]) -> bytes:
    if not spans:
        return data
    spans.sort()
    out, pos = [], 0
    for s, e in spans:
        if e <= pos:
            continue
        s = max(s, pos)
        out += [data[pos:s], redact(data[s:e].decode("utf-8", "surrogatepass")).encode("utf-8", "surrogatepass")]
        pos = e
    out.append(data[pos:])
    return b"".join(out)


class Redactor:
    """Masks detected values in captured text; built once per audit from its identities."""

    def __init__(self, identities: Iterable[Identity] = (), matchers: Iterable[Matcher] = ()):
        self.matchers = list(matchers) + [Matcher(i) for i in identities]
        # The same host, location or detail recurs in many findings; bounded, a text may be long.
        self._text = functools.lru_cache(maxsize=4096)(self._masked_text)

    def spans(self, data: bytes, host: bool = False) -> list[tuple[int, int]]:
        found = [(h.start, h.end) for m in self.matchers for h in m.find(data)]
        found += [(h.start, h.end) for h in heuristic_hits(data)
                  if not (host and h.match in _HOST_KINDS_KEPT)]
        return found

    def text(self, text: str, host: bool = False) -> str:
        """text with every detected value masked (host=True: a host name, see _HOST_KINDS_KEPT)."""
        return self._text(text, host) if text else text

    def _masked_text(self, text: str, host: bool) -> str:
        data = text.encode("utf-8", "surrogatepass")
        return _spans_masked(data, self.spans(data, host)).decode("utf-8", "surrogatepass")

    def url(self, url: str, evidence=(), uninspected: bool = False) -> str:
        """A captured URL masked once: detected values, query values that carried evidence, and
        encoded path runs that held decoded evidence (or everything encoded, when the exchange
        was not fully inspected)."""
        return self._mask_url(url, evidence, uninspected)

    def _mask_url(self, url: str, evidence, uninspected: bool) -> str:
        base, sep, query = url.partition("?")
        scheme, colon, rest = base.partition("://")
        if not colon:
            scheme, rest = "", base
        authority, slash, path = rest.partition("/")
        # The authority: user info is data, the host is the destination (see text(host=True)).
        user, at, host = authority.rpartition("@")
        masked_auth = (self.text(user) + at if at else "") + self.text(host, host=True)
        tail = slash + path
        data = tail.encode("utf-8", "surrogatepass")
        spans = self.spans(data)
        if uninspected or any((e.location == "url" or e.location.startswith("url:")) and e.layers for e in evidence):
            spans += [(s, e) for s, e, _, _ in embedded.candidates(data)]
        tail = _spans_masked(data, spans).decode("utf-8", "surrogatepass")
        head = f"{scheme}://" if colon else ""
        if not sep:
            return head + masked_auth + tail
        # Parameters that carried evidence, by name: "query:uid" and "query:d.$.user" (a value
        # decoded further) both name "uid"/"d" and every prefix of a nested path.
        carried: set[str] = set()
        for e in evidence:
            if e.location.startswith("query:"):
                loc = e.location[6:]
                carried.add(loc)
                carried.update(loc[:i] for i, c in enumerate(loc) if c in ".[")
        return head + masked_auth + tail + "?" + self._query(query, carried, uninspected)

    def _query(self, query: str, carried: set[str], everything: bool) -> str:
        from urllib.parse import unquote_plus

        out = []
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            if not eq:
                name, value = "", name
            if value and (everything or unquote_plus(name) in carried):
                value = redact(value)
            else:
                value = self.text(value)
            out.append(f"{self.text(name)}={value}" if eq else value)
        return "&".join(out)

    def finding(self, f: Finding, masked_url: str | None = None) -> Finding:
        """f with its URL, detail, host and evidence location masked; its id is kept (computed
        before masking, from stable fields). masked_url: f.url as url() masked it with its
        exchange's evidence (else the URL is masked by what can be detected in it alone)."""
        raw = f.url
        if masked_url is None:
            masked_url = self.url(raw) if raw else raw
        detail = f.detail.replace(raw, masked_url) if raw and raw in f.detail else f.detail
        changes = {}
        if masked_url != f.url:
            changes["url"] = masked_url
        detail = self.text(detail)
        if detail != f.detail:
            changes["detail"] = detail
        host = self.text(f.host, host=True)
        if host != f.host:
            changes["host"] = host
        ev = f.evidence
        if ev is not None:
            location = self.text(ev.location)
            context = tuple(self.text(c) for c in ev.context)  # masked at the source; again here
            if (location, context) != (ev.location, ev.context):
                changes["evidence"] = replace(ev, location=location, context=context)
        return f.with_(**changes) if changes else f
