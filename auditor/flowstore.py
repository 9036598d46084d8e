"""Read captured traffic (.mitm, HAR, run directories) into normalised Exchanges.

An Exchange is one request/response, one TCP/UDP stream or one DNS query, tagged with the scenario
and variant it came from. Bodies stay exactly as sent (Content-Encoding included) so that the
decoders can record every layer they peel off.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from mitmproxy import dns, http, io, tcp, udp
from mitmproxy.exceptions import FlowReadException

from . import outfiles
from .errors import UsageError


@dataclass(frozen=True)
class Message:
    from_client: bool
    content: bytes
    timestamp: float = 0.0


@dataclass(frozen=True)
class Exchange:
    id: str
    kind: str  # http | websocket | tcp | udp | dns
    host: str  # the name the client asked for (SNI, Host, DNS question or attributed name)
    port: int = 0
    scheme: str = ""  # http, https, tcp, tls, udp, dns
    method: str = ""
    url: str = ""
    path: str = ""
    request_headers: tuple[tuple[str, str], ...] = ()
    request_body: bytes = b""
    response_status: int | None = None
    response_headers: tuple[tuple[str, str], ...] = ()
    response_body: bytes = b""
    messages: tuple[Message, ...] = ()
    timestamp: float = 0.0
    action: str = ""  # sinkhole | forward | "" (unknown: HAR or foreign capture)
    tls: bool = False
    error: str = ""
    scenario: str = ""
    variant: str = ""  # run name: unset, unset-2, denied, …
    meta: dict = field(default_factory=dict)

    @property
    def plaintext(self) -> bool:
        return not self.tls and self.kind != "dns"

    def header(self, name: str) -> str:
        name = name.lower()
        return next((v for k, v in self.request_headers if k.lower() == name), "")

    @property
    def sent_bytes(self) -> int:
        return len(self.request_body) + sum(len(m.content) for m in self.messages if m.from_client)


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """Captured text as valid Unicode. mitmproxy decodes undecodable bytes to lone surrogates
    (surrogateescape); anything that later encodes such a string (a fingerprint, a report) would
    raise. A raw byte becomes %XX, which is what it means in a URL; any other lone surrogate (a
    HAR's "\\ud800") becomes U+FFFD. Only display fields pass through here: bodies, header values
    and messages stay exact for the decoders."""
    if text.isascii():
        return text
    text = _ESCAPED_BYTE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}", text)
    return _SURROGATE.sub("\ufffd", text)


def _headers(h) -> tuple[tuple[str, str], ...]:
    return tuple((clean(k), v) for k, v in h.items(multi=True))


def _tags(f) -> tuple[str, str]:
    md = f.metadata or {}
    return md.get("egress.action", ""), md.get("egress.host", "")


def from_flow(f, scenario: str = "", variant: str = "") -> Exchange | None:
    """Normalise one mitmproxy flow; None for flows that carry nothing to analyse."""
    action, tagged_host = _tags(f)
    common = dict(id=f.id, scenario=scenario, variant=variant, action=action,
                  error=f.error.msg if f.error else "", meta=dict(f.metadata or {}))
    if isinstance(f, http.HTTPFlow):
        req = f.request
        resp = f.response
        tls = req.scheme == "https"
        msgs = ()
        kind = "http"
        if f.websocket is not None:
            kind = "websocket"
            msgs = tuple(Message(m.from_client, m.content, m.timestamp) for m in f.websocket.messages)
        return Exchange(
            kind=kind, host=clean(tagged_host or req.pretty_host), port=req.port, scheme=clean(req.scheme),
            method=clean(req.method), url=clean(req.pretty_url), path=clean(req.path), tls=tls,
            request_headers=_headers(req.headers), request_body=req.raw_content or b"",
            response_status=resp.status_code if resp else None,
            response_headers=_headers(resp.headers) if resp else (),
            response_body=(resp.raw_content or b"") if resp else b"",
            messages=msgs, timestamp=req.timestamp_start, **common)
    if isinstance(f, (tcp.TCPFlow, udp.UDPFlow)):
        kind = "tcp" if isinstance(f, tcp.TCPFlow) else "udp"
        # The sinkhole re-points unallowed streams at a local sink: the metadata keeps where the
        # client really wanted to go.
        addr = tuple((f.metadata or {}).get("egress.destination") or f.server_conn.address or ("", 0))
        sni = f.client_conn.sni or ""
        tls = bool(f.client_conn.tls_established or f.client_conn.tls)
        host = clean(str(tagged_host or sni or addr[0]))
        scheme = ("tls" if tls else "tcp") if kind == "tcp" else ("dtls" if tls else "udp")
        return Exchange(
            kind=kind, host=host, port=addr[1], scheme=scheme, url=f"{scheme}://{host}:{addr[1]}",
            tls=tls, messages=tuple(Message(m.from_client, m.content, m.timestamp) for m in f.messages),
            timestamp=f.client_conn.timestamp_start or 0.0, **common)
    if isinstance(f, dns.DNSFlow):
        q = f.request.questions[0] if f.request.questions else None
        name = clean(q.name) if q else ""
        return Exchange(
            kind="dns", host=name, port=53, scheme="dns", url=f"dns://{name}",
            method=dns.types.to_str(q.type) if q else "", request_body=f.request.packed,
            timestamp=f.request.timestamp, **common)
    return None


def iter_flows(path: Path, problems: list[str] | None = None) -> Iterator:
    """The raw mitmproxy flows of a .mitm file, salvaged: a file torn by a killed writer (or
    damaged on purpose) yields every whole flow before the damage, and the damage is appended to
    `problems` (the caller marks the run incomplete). Without a `problems` list, damage raises."""
    try:
        fo = outfiles.open_read(path)
    except OSError as e:
        if problems is None:
            raise UsageError(f"{path}: cannot read: {e.strerror or e}") from None
        problems.append(f"{path}: cannot read: {e.strerror or e}; none of its flows were analysed")
        return
    n = 0
    with fo:
        reader = io.FlowReader(fo)
        good = 0
        try:
            for f in reader.stream():
                n += 1
                good = fo.tell()
                yield f
        except (FlowReadException, ValueError, TypeError, KeyError, IndexError, AttributeError,
                RecursionError, UnicodeError, OverflowError) as e:
            # Anything mitmproxy's reader raises on hostile bytes (a record nested past the
            # recursion limit, a state dict with wrong types) means the same: the file ends here.
            what = f"{path}: damaged or torn after {n} whole flow(s) (byte {good}): {type(e).__name__}: {e}"
            if problems is None:
                raise UsageError(f"{path}: not a readable mitmproxy flow file: {e}") from None
            problems.append(what[:500] + "; the flows before it are kept, the rest is lost")


def read_mitm(path: Path, scenario: str = "", variant: str = "",
              problems: list[str] | None = None) -> Iterator[Exchange]:
    """Exchanges of a .mitm file. With `problems`, a torn file and flows that cannot be
    normalised become problems instead of errors (see iter_flows)."""
    for f in iter_flows(path, problems):
        try:
            ex = from_flow(f, scenario, variant)
        except Exception as e:  # a hostile flow must cost itself, not the capture
            if problems is None:
                raise UsageError(f"{path}: flow {getattr(f, 'id', '?')}: cannot read: {e}") from None
            problems.append(f"{path}: flow {getattr(f, 'id', '?')} not analysed: {type(e).__name__}: {e}"[:500])
            continue
        if ex is not None:
            yield ex


def read_har(path: Path, scenario: str = "", variant: str = "",
             problems: list[str] | None = None) -> Iterator[Exchange]:
    """Exchanges of a HAR file, validated entry by entry: a file that is not HAR at all is a
    usage error; one entry that cannot be read is a problem (with `problems`), the rest is read."""
    from mitmproxy.io import har

    try:
        with outfiles.open_read(path) as fo:
            data = json.loads(fo.read().decode("utf-8"))
    except RecursionError:
        raise UsageError(f"{path}: not a readable HAR file: nested too deeply for a JSON parser") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a readable HAR file: {e}") from None
    log = data.get("log") if isinstance(data, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise UsageError(f"{path}: log.entries: expected a list of HAR entries, got "
                         f"{type(entries).__name__ if log is not None else 'no log object'}")
    for i, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise ValueError(f"expected an object, got {type(entry).__name__}")
            ex = from_flow(har.request_to_flow(entry), scenario, variant)
        except Exception as e:  # a foreign HAR may be malformed in any way
            what = f"{path}: log.entries[{i}]: cannot read HAR entry: {type(e).__name__}: {e}"[:500]
            if problems is None:
                raise UsageError(what) from None
            problems.append(what)
            continue
        if ex is not None:
            yield ex


def detect_kind(path: Path) -> str:
    """'rundir', 'har' or 'mitm' for an analyze input."""
    if path.is_dir():
        return "rundir"
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    with open(path, "rb") as fo:
        head = fo.read(64).lstrip()
    if head.startswith(b"{"):
        return "har"
    return "mitm"
