"""Cross-check a full-capture run against the packets themselves (capture.pcap, written by tcpdump).

mitmproxy turns what it understands into flows; tcpdump on the sandbox's TUN device records every
packet, whatever became of it. A TCP connection that carried bytes from the program, or a UDP
datagram it sent, with no flow (and no event explaining it, such as a refused TLS handshake) is
traffic the analysis never saw: the run is incomplete. So is a tun run whose packet capture is
missing or unreadable although it was recorded.

Not counted, because they carry nothing the analysis could miss: TCP connects that never send a
byte (the name was already seen in DNS), retransmissions (counted once per connection), ICMP (the
capture answers it locally; it never leaves), packets from the capture back to the program.

A pure function of files in the run directory, so `analyze` and `report` re-check it.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from pathlib import Path

import dpkt

from . import outfiles

MAX_LISTED = 10
# The sandbox's addresses (sandbox/tun.py, sandbox/keeper.py): its side of every conversation.
SANDBOX_ADDRESSES = ("10.0.0.1", "fd00:eaea::1", "10.0.0.2")
_RAW_LINKTYPES = {12, 14, 101, 228, 229}  # DLT_RAW (two values), LINKTYPE_RAW, IPV4, IPV6
_SLL = 113


def _addr(value) -> str:
    """One spelling per address (IPv4-mapped IPv6 as IPv4), for comparing tuples."""
    try:
        ip = ipaddress.ip_address(value if isinstance(value, str) else bytes(value))
    except ValueError:
        return str(value)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def _packets(path: Path):
    """(time, proto, src, sport, dst, dport, tcp flags, payload length) per TCP/UDP packet."""
    with outfiles.open_read(path) as fo:  # never through a link or from a FIFO a program planted
        reader = dpkt.pcap.UniversalReader(fo)
        link = reader.datalink()
        it = iter(reader)
        while True:
            try:
                ts, buf = next(it)
            except StopIteration:
                return
            except (dpkt.NeedData, dpkt.UnpackError, ValueError, EOFError):
                return  # a record torn by a stopped tcpdump ends the file
            try:
                if link == _SLL:
                    buf = buf[16:]
                elif link not in _RAW_LINKTYPES:
                    raise ValueError(f"unsupported link type {link}")
                ip = dpkt.ip.IP(buf) if buf[:1] and buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
            except (dpkt.UnpackError, IndexError, ValueError):
                continue
            seg = ip.data
            if isinstance(seg, dpkt.tcp.TCP):
                yield ts, "tcp", _addr(ip.src), seg.sport, _addr(ip.dst), seg.dport, seg.flags, len(seg.data)
            elif isinstance(seg, dpkt.udp.UDP):
                yield ts, "udp", _addr(ip.src), seg.sport, _addr(ip.dst), seg.dport, 0, len(seg.data)


def _events(run_dir: Path):
    """The capture's events (a torn or hostile line is skipped)."""
    try:
        with outfiles.open_read(run_dir / "events.jsonl") as fo:
            for line in fo:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if isinstance(e, dict):
                    yield e
    except OSError:
        return


def _recorded(run_dir: Path) -> dict[tuple, int]:
    """Client connections mitmproxy recorded: (proto, client, port, server, port) -> how many
    distinct connections (what a torn flows.mitm still holds counts; the rest is missing)."""
    from mitmproxy import io

    conns: dict[tuple, set[str]] = defaultdict(set)
    try:
        with outfiles.open_read(run_dir / "flows.mitm") as fo:
            for flow in io.FlowReader(fo).stream():
                c = flow.client_conn
                if c.peername and c.sockname:
                    key = (c.transport_protocol, _addr(c.peername[0]), c.peername[1],
                           _addr(c.sockname[0]), c.sockname[1])
                    conns[key].add(c.id)
    except Exception:  # noqa: BLE001 - missing, torn or hostile: what was read still counts
        pass
    for i, e in enumerate(_events(run_dir)):
        peer = e.get("peer")
        if e.get("event") == "tls-failed-client" and isinstance(peer, list) and len(peer) >= 2:
            # The program refused the audit CA: seen (SEC-004), though not decrypted. Keyed by its
            # own end only: the server address may already name an upstream host.
            conns[(str(e.get("transport") or "tcp"), _addr(str(peer[0])), peer[1])].add(f"tls:{i}")
    return {k: len(v) for k, v in conns.items()}


def _names(run_dir: Path) -> dict[str, str]:
    return {str(e.get("address")): str(e.get("name"))[:253] for e in _events(run_dir)
            if e.get("event") == "dns-synthetic"}


def unmatched(run_dir: Path) -> list[dict]:
    """Traffic in capture.pcap without its flow: one item per TCP connection or UDP 5-tuple."""
    recorded = _recorded(run_dir)
    packets = list(_packets(run_dir / "capture.pcap"))
    # The program's side: the sandbox's own addresses, and whoever opened a TCP connection. Decides
    # direction when tcpdump dropped a connection's first packets under load.
    mine = set(SANDBOX_ADDRESSES) | {p[2] for p in packets
                                     if p[1] == "tcp" and p[6] & dpkt.tcp.TH_SYN and not p[6] & dpkt.tcp.TH_ACK}
    tcp: dict[tuple, list[dict]] = defaultdict(list)  # 5-tuple -> connections, in order
    udp_out: dict[tuple, dict] = {}
    for ts, proto, src, sport, dst, dport, flags, size in packets:
        fwd, rev = (proto, src, sport, dst, dport), (proto, dst, dport, src, sport)
        if proto == "tcp":
            if flags & dpkt.tcp.TH_SYN and not flags & dpkt.tcp.TH_ACK:
                tcp[fwd].append({"t": ts, "bytes": size})  # a new connection from the program
            elif fwd in tcp:
                tcp[fwd][-1]["bytes"] += size
            elif rev in tcp:
                continue  # the capture answering
            elif dst in mine and src not in mine:  # its opening packets were not captured
                tcp[rev].append({"t": ts, "bytes": 0})
            else:
                tcp[fwd].append({"t": ts, "bytes": size})
        elif not (dst in mine and src not in mine) and rev not in udp_out:  # not a reply to the program
            item = udp_out.setdefault(fwd, {"t": ts, "bytes": 0, "datagrams": 0})
            item["bytes"] += size
            item["datagrams"] += 1
    out = []
    for key, conns in tcp.items():
        carrying = [c for c in conns if c["bytes"]]
        for c in carrying[recorded.get(key, 0) + recorded.get(key[:3], 0):]:
            out.append({"proto": "tcp", "key": key, **c})
    for key, item in udp_out.items():
        if not (recorded.get(key) or recorded.get(key[:3])):
            out.append({"proto": "udp", "key": key, **item})
    return sorted(out, key=lambda x: x["t"])


def problems(run_dir: Path, manifest: dict) -> tuple[str, ...]:
    """Why the capture of a tun run is not the whole truth (empty when every packet has its flow)."""
    if manifest.get("capture") != "tun":
        return ()
    pcap = run_dir / "capture.pcap"
    if not pcap.is_file():
        return ("ground truth: capture.pcap was recorded but is missing",) if manifest.get("pcap") else ()
    try:
        items = unmatched(run_dir)
    except (OSError, ValueError, dpkt.Error) as e:
        return (f"ground truth: capture.pcap cannot be read ({type(e).__name__}); the capture cannot be "
                "checked against the packets",)
    if not items:
        return ()
    names = _names(run_dir)
    lines = []
    for x in items[:MAX_LISTED]:
        proto, src, sport, dst, dport = x["key"]
        name = f" ({names[dst]})" if dst in names else ""
        what = "connection" if proto == "tcp" else f"{x['datagrams']} datagram(s)"
        lines.append(f"ground truth: a {proto.upper()} {what} {src}:{sport} -> {dst}:{dport}{name} carried "
                     f"{x['bytes']} bytes that no recorded flow holds (the capture missed or lost it)")
    if len(items) > MAX_LISTED:
        lines.append(f"ground truth: {len(items) - MAX_LISTED} more unrecorded connections or datagrams")
    return tuple(lines)
