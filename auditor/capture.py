"""The mitmproxy addon: sinkhole, DNS answers, forward-by-name allowlist, and loss-free recording.

Thin by design: hooks decide (forward or answer locally), answer DNS with synthetic addresses that
map back to names (full capture), tag and persist. All analysis happens
offline on the stored flows. If persisting fails the proxy exits at once — an audit that silently
misses traffic is worse than a crash.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from collections.abc import Sequence

from mitmproxy import ctx, dns, http, io
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import layer as mlayer
from mitmproxy.proxy import layers, server_hooks
from mitmproxy.proxy.layers.tls import parse_client_hello

from . import outfiles
from .policy import is_allowed

log = logging.getLogger(__name__)

# A real HTTP/1 request line; anything else that mitmproxy would parse as HTTP is kept as raw TCP
# (mitmproxy drops "BEACON id=42 user=x\n" without a flow when HTTP parsing fails).
_REQUEST_LINE = re.compile(rb"^[A-Z][A-Z-]{1,19} \S+ HTTP/\d(\.\d)?\r?\n")
SINK_BODY = b"{}"
# Synthetic DNS answers come from the benchmarking range: never routed on the internet, so an
# address the client got from us can only ever mean "the name we answered".
SYNTHETIC_NET = ipaddress.ip_network("198.18.0.0/15")
DNS_TTL = 60


class AddressBook:
    """Name <-> synthetic address, one address per name for the life of the capture."""

    def __init__(self) -> None:
        self.by_name: dict[str, str] = {}
        self.by_addr: dict[str, str] = {}
        self._hosts = SYNTHETIC_NET.hosts()

    def assign(self, name: str) -> tuple[str, bool]:
        """The address for name, and whether it was assigned just now."""
        if name in self.by_name:
            return self.by_name[name], False
        addr = str(next(self._hosts))  # StopIteration after 131k names: the capture then fails loudly
        self.by_name[name] = addr
        self.by_addr[addr] = name
        return addr, True

    def name(self, addr: object) -> str:
        return self.by_addr.get(str(addr), "")


class Recorder:
    def __init__(self) -> None:
        self._writer: io.FlowWriter | None = None
        self._file = None
        self._events = None
        self._live: dict[str, object] = {}
        self._written: set[str] = set()
        self._sink_tcp: asyncio.Server | None = None
        self._sink_udp: asyncio.DatagramTransport | None = None
        self.sink_addr: tuple[str, int] | None = None
        self.sink_udp_addr: tuple[str, int] | None = None
        self.names = AddressBook()

    def load(self, loader) -> None:
        loader.add_option("egress_dir", str, "", "Run directory: flows.mitm and events.jsonl go here.")
        loader.add_option("egress_allow", Sequence[str], [],
                          "Host names or *.globs forwarded upstream by name; all else is sinkholed.")

    def configure(self, updated) -> None:
        if "egress_dir" in updated and ctx.options.egress_dir:
            d = Path(ctx.options.egress_dir)
            d.mkdir(mode=outfiles.DIR_MODE, parents=True, exist_ok=True)
            self._file = outfiles.open_append(d / "flows.mitm", binary=True)
            self._writer = io.FlowWriter(self._file)
            self._events = outfiles.open_append(d / "events.jsonl")

    @property
    def allow(self) -> Sequence[str]:
        return ctx.options.egress_allow

    # ---- lifecycle -------------------------------------------------------------------------
    async def running(self) -> None:
        loop = asyncio.get_running_loop()
        self._sink_tcp = await asyncio.start_server(_drain, "127.0.0.1", 0)
        self.sink_addr = self._sink_tcp.sockets[0].getsockname()[:2]
        self._sink_udp, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        self.sink_udp_addr = self._sink_udp.get_extra_info("sockname")[:2]
        ps = ctx.master.addons.get("proxyserver")
        addrs = [list(a[:2]) for a in ps.listen_addrs()] if ps else []
        self._event("ready", listen=addrs, pid=os.getpid())

    def done(self) -> None:
        # Flows still open at shutdown (a stream never closed) are written as they are.
        for f in list(self._live.values()):
            self._persist(f)
        if self._file:
            self._file.flush()
        if self._sink_tcp:
            self._sink_tcp.close()
        if self._sink_udp:
            self._sink_udp.close()
        self._event("done")

    # ---- decisions ---------------------------------------------------------------------------
    def next_layer(self, nextlayer: mlayer.NextLayer) -> None:
        # Script addons run before mitmproxy's own layer choice. Text that starts like HTTP but
        # whose first line is no request line would be parsed as HTTP and dropped without a flow
        # ("BEACON id=42 user=x\n"): decide raw TCP for it here, leave everything else alone.
        if nextlayer.layer is not None:
            return
        context = nextlayer.context
        if context.client.transport_protocol == "udp":
            # mitmproxy takes every datagram to port 53 for DNS and drops what does not parse;
            # a covert payload sent there must still become a (UDP) flow.
            server = context.server.address
            if server and server[1] in (53, 5353) and not _is_dns(nextlayer.data_client()):
                nextlayer.layer = layers.UDPLayer(context)
            return
        head = nextlayer.data_client()[:4096]
        if starts_like_tls_record(head) and context.server.address:
            try:
                hello = parse_client_hello(nextlayer.data_client())
            except ValueError:
                hello = None
            if self._upstream(context.server.address[0], hello.sni if hello else None) is None:
                # Sinkholed: intercept the client's TLS only. The sink speaks no TLS, and a server-side
                # handshake with it would fail and drop the stream before a byte was recorded.
                nextlayer.layer = layers.ClientTLSLayer(context)
            return
        if head[:1].isalpha() and b"\n" in head and not _REQUEST_LINE.match(head):
            nextlayer.layer = layers.TCPLayer(context)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.client_conn.tls_established and flow.request.scheme == "http":
            # mitmproxy takes the scheme from the server side, which a sinkholed flow never has:
            # what the client sent was encrypted, and must not be reported as plaintext.
            flow.request.scheme = "https"
        self._live[flow.id] = flow

    def request(self, flow: http.HTTPFlow) -> None:
        # Both the connection target and the name the client claims must be allowed: a request
        # to an allowed address that names another host is answered locally.
        names = {self.names.name(h) or h
                 for h in (flow.request.host.lower(), flow.request.pretty_host.lower())}
        if flow.client_conn.sni:
            names.add(flow.client_conn.sni.lower())
        host = flow.request.pretty_host.lower()
        flow.metadata["egress.host"] = self.names.name(host) or host
        if all(is_allowed(n, self.allow) for n in names):
            flow.metadata["egress.action"] = "forward"
            name = self.names.name(flow.request.host)
            if name:
                # Ask for the server by the name server_connect will use: mitmproxy reuses a
                # server connection only when the address matches, and caps new ones at five per
                # client connection — keep-alive clients (npm) otherwise stall. `.data.host` keeps
                # the client's Host header as sent.
                flow.request.data.host = name
            return
        flow.metadata["egress.action"] = "sinkhole"
        flow.response = http.Response.make(200, SINK_BODY, {"content-type": "application/json"})

    def _upstream(self, host: object, sni: str | None) -> str | None:
        """Where an allowed connection goes, or None (the sink). Both the destination and the name
        the client claims must be allowed; a synthetic address counts as the name it was given for."""
        name = self.names.name(host) or str(host)
        if is_allowed(name, self.allow) and (not sni or is_allowed(sni, self.allow)):
            return name
        return None

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        host, port = data.server.address[:2]
        sni = data.server.sni or ""
        name = self.names.name(host)
        upstream = self._upstream(host, sni)
        if upstream is not None:
            # For a synthetic address, reach the name it stands for (resolved on the host), never
            # an address the client chose.
            data.server.address = (upstream, port)
            synthetic = name and str(host) or self.names.by_name.get(upstream)
            extra = {"address": synthetic} if synthetic else {}
            self._event("upstream", host=upstream, port=port, sni=sni,
                        transport=data.server.transport_protocol, **extra)
            return
        # Never open a connection to a host that is not allowed: raw TCP/UDP goes to the local
        # sink so the client's bytes are still recorded by mitmproxy.
        sink = self.sink_addr if data.server.transport_protocol == "tcp" else self.sink_udp_addr
        extra = {"address": str(host)} if name else {}
        self._event("sinkhole", host=name or str(host), port=port, sni=sni,
                    transport=data.server.transport_protocol, **extra)
        if sink is None:
            data.server.error = "egress-auditor: sinkholed"
            return
        data.server.address = sink
        data.server.sni = None  # no TLS to the sink

    def tls_failed_client(self, data) -> None:
        conn = data.context.client
        server = data.context.server.address
        self._event("tls-failed-client", sni=conn.sni or "", error=str(conn.error or ""),
                    peer=list(conn.peername[:2]) if conn.peername else None,
                    server=list(server[:2]) if server else None,
                    name=self.names.name(server[0]) if server else "",
                    transport=conn.transport_protocol)

    # ---- recording ---------------------------------------------------------------------------
    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:  # websocket flows are persisted at websocket_end
            self._persist(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._persist(flow)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._persist(flow)

    def tcp_start(self, flow) -> None:
        self._attribute(flow)
        self._live[flow.id] = flow

    def udp_start(self, flow) -> None:
        self._attribute(flow)
        self._live[flow.id] = flow

    def _attribute(self, flow) -> None:
        """Tag a raw stream with the name the client resolved (or sent as SNI) and the decision."""
        addr = flow.server_conn.address
        name = (flow.client_conn.sni or (self.names.name(addr[0]) if addr else "")).lower()
        if name:
            flow.metadata["egress.host"] = name
        if addr:  # the sink replaces the server address later; keep where the client was going
            flow.metadata["egress.destination"] = [str(addr[0]), addr[1]]
        upstream = self._upstream(addr[0], flow.client_conn.sni) if addr else None
        flow.metadata["egress.action"] = "sinkhole" if upstream is None else "forward"

    def tcp_end(self, flow) -> None:
        self._persist(flow)

    tcp_error = tcp_end
    udp_end = tcp_end
    udp_error = tcp_end

    def dns_request(self, flow: dns.DNSFlow) -> None:
        """Answer every query here: nothing is asked of the resolver the client chose.

        A gets a per-name synthetic address (allowed names too: the later connection to it is
        forwarded by name); every other type is answered NOERROR with no records, which makes
        clients fall back to IPv4 A records.
        """
        self._live[flow.id] = flow
        q = flow.request.question
        if flow.response is not None or q is None or not flow.request.query:
            return
        name = q.name.lower().rstrip(".")
        allowed = is_allowed(name, self.allow)
        flow.metadata["egress.host"] = name
        flow.metadata["egress.action"] = "forward" if allowed else "sinkhole"
        answers = []
        if q.type == dns.types.A and q.class_ == dns.classes.IN:
            addr, new = self.names.assign(name)
            if new:  # persisted so that offline analysis (pcap, events) can attribute addresses
                self._event("dns-synthetic", name=name, address=addr, allowed=allowed)
            answers.append(dns.ResourceRecord(name=q.name, type=q.type, class_=q.class_, ttl=DNS_TTL,
                                              data=ipaddress.ip_address(addr).packed))
        flow.response = flow.request.succeed(answers)

    def dns_response(self, flow: dns.DNSFlow) -> None:
        self._persist(flow)

    dns_error = dns_response

    def _persist(self, flow) -> None:
        self._live.pop(flow.id, None)
        # A stream flushed by `done` still gets its end (or error) hook while the proxy shuts down.
        if self._writer is None or flow.id in self._written:
            return
        self._written.add(flow.id)
        try:
            self._writer.add(flow)
            self._file.flush()
        except Exception as e:  # disk full, closed file: stop the audit rather than lose traffic
            print(f"egress-auditor: cannot record flow, stopping capture: {e}", file=sys.stderr)
            os._exit(70)

    def _event(self, kind: str, **fields) -> None:
        if self._events is None:
            return
        try:
            self._events.write(json.dumps({"t": time.time(), "event": kind, **fields}) + "\n")
            self._events.flush()
        except Exception as e:
            print(f"egress-auditor: cannot record event, stopping capture: {e}", file=sys.stderr)
            os._exit(70)


def _is_dns(data: bytes) -> bool:
    try:
        dns.DNSMessage.unpack(data)
    except Exception:  # struct.error, ValueError, UnicodeError: anything that is not a message
        return False
    return True


async def _drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The local sink for raw streams to sinkholed hosts: read everything, answer nothing."""
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, asyncio.CancelledError):  # shutdown cancels open sink streams
        pass
    finally:
        writer.close()
