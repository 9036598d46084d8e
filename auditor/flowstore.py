"""Read captured traffic (.mitm, HAR, run directories) into normalised Exchanges.

An Exchange is one request/response, one TCP/UDP stream or one DNS query, tagged with the scenario
and variant it came from. Bodies stay exactly as sent (Content-Encoding included) so that the
decoders can record every layer they peel off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from mitmproxy import dns, http, io, tcp, udp
from mitmproxy.exceptions import FlowReadException

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


def _headers(h) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in h.items(multi=True))


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
            kind=kind, host=tagged_host or req.pretty_host, port=req.port, scheme=req.scheme,
            method=req.method, url=req.pretty_url, path=req.path, tls=tls,
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
        host = tagged_host or sni or str(addr[0])
        scheme = ("tls" if tls else "tcp") if kind == "tcp" else ("dtls" if tls else "udp")
        return Exchange(
            kind=kind, host=host, port=addr[1], scheme=scheme, url=f"{scheme}://{host}:{addr[1]}",
            tls=tls, messages=tuple(Message(m.from_client, m.content, m.timestamp) for m in f.messages),
            timestamp=f.client_conn.timestamp_start or 0.0, **common)
    if isinstance(f, dns.DNSFlow):
        q = f.request.questions[0] if f.request.questions else None
        name = q.name if q else ""
        return Exchange(
            kind="dns", host=name, port=53, scheme="dns", url=f"dns://{name}",
            method=dns.types.to_str(q.type) if q else "", request_body=f.request.packed,
            timestamp=f.request.timestamp, **common)
    return None


def read_mitm(path: Path, scenario: str = "", variant: str = "") -> Iterator[Exchange]:
    try:
        with open(path, "rb") as fo:
            for f in io.FlowReader(fo).stream():
                ex = from_flow(f, scenario, variant)
                if ex is not None:
                    yield ex
    except FlowReadException as e:
        raise UsageError(f"{path}: not a readable mitmproxy flow file: {e}") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e}") from None


def read_flows(path: Path) -> list:
    """The raw mitmproxy flows of a .mitm file (for HAR export and re-rendering)."""
    with open(path, "rb") as fo:
        return list(io.FlowReader(fo).stream())


def read_har(path: Path, scenario: str = "", variant: str = "") -> Iterator[Exchange]:
    from mitmproxy.io import har

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        entries = data["log"]["entries"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path}: not a readable HAR file: {e}") from None
    for i, entry in enumerate(entries):
        try:
            f = har.request_to_flow(entry)
        except Exception as e:  # a foreign HAR may be malformed in any way
            raise UsageError(f"{path}: log.entries[{i}]: cannot parse HAR entry: {e}") from None
        ex = from_flow(f, scenario, variant)
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
