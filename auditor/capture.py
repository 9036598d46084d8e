"""The mitmproxy addon: sinkhole, forward-by-name allowlist, and loss-free recording.

Thin by design: hooks decide (forward or answer locally), tag and persist. All analysis happens
offline on the stored flows. If persisting fails the proxy exits at once — an audit that silently
misses traffic is worse than a crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from collections.abc import Sequence

from mitmproxy import ctx, dns, http, io
from mitmproxy.proxy import layer as mlayer
from mitmproxy.proxy import layers, server_hooks

from .policy import is_allowed

log = logging.getLogger(__name__)

# A real HTTP/1 request line; anything else that mitmproxy would parse as HTTP is kept as raw TCP
# (mitmproxy drops "BEACON id=42 user=x\n" without a flow when HTTP parsing fails).
_REQUEST_LINE = re.compile(rb"^[A-Z][A-Z-]{1,19} \S+ HTTP/\d(\.\d)?\r?\n")
SINK_BODY = b"{}"


class Recorder:
    def __init__(self) -> None:
        self._writer: io.FlowWriter | None = None
        self._file = None
        self._events = None
        self._live: dict[str, object] = {}
        self._sink_tcp: asyncio.Server | None = None
        self._sink_udp: asyncio.DatagramTransport | None = None
        self.sink_addr: tuple[str, int] | None = None
        self.sink_udp_addr: tuple[str, int] | None = None

    def load(self, loader) -> None:
        loader.add_option("egress_dir", str, "", "Run directory: flows.mitm and events.jsonl go here.")
        loader.add_option("egress_allow", Sequence[str], [],
                          "Host names or *.globs forwarded upstream by name; all else is sinkholed.")

    def configure(self, updated) -> None:
        if "egress_dir" in updated and ctx.options.egress_dir:
            d = Path(ctx.options.egress_dir)
            d.mkdir(parents=True, exist_ok=True)
            self._file = open(d / "flows.mitm", "ab")
            self._writer = io.FlowWriter(self._file)
            self._events = open(d / "events.jsonl", "a", encoding="utf-8")

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
        if nextlayer.layer is not None or nextlayer.context.client.transport_protocol != "tcp":
            return
        head = nextlayer.data_client()[:4096]
        if head[:1].isalpha() and b"\n" in head and not _REQUEST_LINE.match(head):
            nextlayer.layer = layers.TCPLayer(nextlayer.context)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._live[flow.id] = flow

    def request(self, flow: http.HTTPFlow) -> None:
        # Both the connection target and the name the client claims must be allowed: a request
        # to an allowed address that names another host is answered locally.
        names = {flow.request.host.lower(), flow.request.pretty_host.lower()}
        if flow.client_conn.sni:
            names.add(flow.client_conn.sni.lower())
        host = flow.request.pretty_host.lower()
        flow.metadata["egress.host"] = host
        if all(is_allowed(n, self.allow) for n in names):
            flow.metadata["egress.action"] = "forward"
            return
        flow.metadata["egress.action"] = "sinkhole"
        flow.response = http.Response.make(200, SINK_BODY, {"content-type": "application/json"})

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        host, port = data.server.address[:2]
        sni = data.server.sni or ""
        if is_allowed(str(host), self.allow) and (not sni or is_allowed(sni, self.allow)):
            self._event("upstream", host=str(host), port=port, sni=sni,
                        transport=data.server.transport_protocol)
            return
        # Never open a connection to a host that is not allowed: raw TCP/UDP goes to the local
        # sink so the client's bytes are still recorded by mitmproxy.
        sink = self.sink_addr if data.server.transport_protocol == "tcp" else self.sink_udp_addr
        self._event("sinkhole", host=str(host), port=port, sni=sni,
                    transport=data.server.transport_protocol)
        if sink is None:
            data.server.error = "egress-auditor: sinkholed"
            return
        data.server.address = sink
        data.server.sni = None  # no TLS to the sink

    def tls_failed_client(self, data) -> None:
        conn = data.context.client
        self._event("tls-failed-client", sni=conn.sni or "", error=str(conn.error or ""),
                    peer=list(conn.peername[:2]) if conn.peername else None,
                    server=list(data.context.server.address[:2]) if data.context.server.address else None)

    # ---- recording ---------------------------------------------------------------------------
    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:  # websocket flows are persisted at websocket_end
            self._persist(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._persist(flow)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._persist(flow)

    def tcp_start(self, flow) -> None:
        self._live[flow.id] = flow

    def udp_start(self, flow) -> None:
        self._live[flow.id] = flow

    def tcp_end(self, flow) -> None:
        self._persist(flow)

    tcp_error = tcp_end
    udp_end = tcp_end
    udp_error = tcp_end

    def dns_request(self, flow: dns.DNSFlow) -> None:
        self._live[flow.id] = flow

    def dns_response(self, flow: dns.DNSFlow) -> None:
        self._persist(flow)

    dns_error = dns_response

    def _persist(self, flow) -> None:
        self._live.pop(flow.id, None)
        if self._writer is None:
            return
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


async def _drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The local sink for raw streams to sinkholed hosts: read everything, answer nothing."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass
    finally:
        writer.close()
