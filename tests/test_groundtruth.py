"""The pcap cross-check: every connection or datagram the program sent must have its flow."""

import json
import socket

import dpkt
import pytest
from mitmproxy import io
from mitmproxy.test import tflow

from auditor import groundtruth

ME, SINK, DNS = "10.0.0.1", "198.18.0.7", "10.0.0.53"
TUN = {"capture": "tun", "pcap": "capture.pcap"}


def ip4(src, dst, seg):
    proto = dpkt.ip.IP_PROTO_TCP if isinstance(seg, dpkt.tcp.TCP) else dpkt.ip.IP_PROTO_UDP
    return dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=seg, ttl=64)


def tcp(sport, dport, flags, data=b""):
    return dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, data=data)


SYN, ACK, PSH, FIN = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN


def connection(port, payload=b"hello", reply=b"{}", dst=SINK, dport=443):
    """A whole TCP conversation from the program, as tcpdump sees it on the TUN device."""
    pkts = [ip4(ME, dst, tcp(port, dport, SYN)), ip4(dst, ME, tcp(dport, port, SYN | ACK)),
            ip4(ME, dst, tcp(port, dport, ACK))]
    if payload:
        pkts += [ip4(ME, dst, tcp(port, dport, PSH | ACK, payload)), ip4(dst, ME, tcp(dport, port, ACK)),
                 ip4(dst, ME, tcp(dport, port, PSH | ACK, reply))]
    return pkts + [ip4(ME, dst, tcp(port, dport, FIN | ACK)), ip4(dst, ME, tcp(dport, port, FIN | ACK))]


def udp(sport, dport, data, src=ME, dst=SINK):
    return ip4(src, dst, dpkt.udp.UDP(sport=sport, dport=dport, data=data, ulen=8 + len(data)))


def write_pcap(path, packets, linktype=101):
    with open(path, "wb") as fo:
        w = dpkt.pcap.Writer(fo, linktype=linktype)
        for i, p in enumerate(packets):
            w.writepkt(bytes(p), ts=1000.0 + i / 100)


def flow_for(kind, port, dst=SINK, dport=443):
    f = {"http": tflow.tflow, "tcp": tflow.ttcpflow, "udp": tflow.tudpflow, "dns": tflow.tdnsflow}[kind]()
    f.client_conn.peername = (ME, port)
    f.client_conn.sockname = (dst, dport)
    f.client_conn.transport_protocol = "udp" if kind in ("udp", "dns") else "tcp"
    return f


def write_flows(path, flows):
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        for f in flows:
            w.add(f)


@pytest.fixture
def run(tmp_path):
    def make(packets, flows=(), events=(), manifest=TUN):
        write_pcap(tmp_path / "capture.pcap", packets)
        write_flows(tmp_path / "flows.mitm", flows)
        (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        return groundtruth.problems(tmp_path, manifest)
    return make


def test_every_connection_with_its_flow_is_clean(run):
    keep_alive = [flow_for("http", 40001), flow_for("http", 40001)]  # two requests, one connection
    packets = connection(40001) + connection(40002) + [udp(5353, 53, b"q", dst=DNS), udp(53, 5353, b"a", src=DNS, dst=ME)]
    assert run(packets, keep_alive + [flow_for("tcp", 40002), flow_for("dns", 5353, DNS, 53)]) == ()


def test_a_connection_that_carried_data_without_a_flow_makes_the_run_incomplete(run):
    events = [{"event": "dns-synthetic", "name": "beacon.example", "address": SINK}]
    [problem] = run(connection(40001) + connection(40002, b"secret"), [flow_for("http", 40001)], events)
    assert f"TCP connection {ME}:40002 -> {SINK}:443 (beacon.example) carried 6 bytes" in problem


def test_connects_that_never_send_a_byte_and_retransmissions_are_not_problems(run):
    retransmitted = connection(40003)
    retransmitted.insert(4, retransmitted[3])  # the same segment twice
    assert run(connection(40001, payload=b"") + retransmitted, [flow_for("tcp", 40003)]) == ()


def test_a_reused_port_needs_a_flow_per_connection(run):
    packets = connection(40001) + connection(40001, b"again")
    assert run(packets, [flow_for("tcp", 40001)])  # one flow, two data-carrying connections
    second = flow_for("tcp", 40001)
    assert run(packets, [flow_for("tcp", 40001), second]) == ()


def test_udp_datagrams_need_their_flow_and_replies_do_not_count(run):
    out, back = udp(50000, 9999, b"UDP-CANARY"), udp(9999, 50000, b"", src=SINK, dst=ME)
    assert run([out, back], [flow_for("udp", 50000, SINK, 9999)]) == ()
    [problem] = run([out, out, back])
    assert "UDP 2 datagram(s) 10.0.0.1:50000 -> 198.18.0.7:9999 carried 20 bytes" in problem


def test_a_refused_tls_handshake_is_accounted_by_its_event(run):
    event = {"event": "tls-failed-client", "peer": [ME, 40005], "server": ["pinned.example", 443],
             "transport": "tcp"}
    assert run(connection(40005, b"\x16\x03\x01hello"), events=[event]) == ()


def test_missed_opening_packets_do_not_turn_the_capture_into_a_client(run):
    # tcpdump dropped the opening packets under load: the first packet seen is the server's.
    pkts = connection(40006)
    pkts = pkts[4:6] + [ip4(ME, SINK, tcp(40006, 443, PSH | ACK, b"more"))] + pkts[6:]
    assert run(pkts, [flow_for("http", 40006)]) == ()
    assert run(pkts)  # and without a flow the program's bytes are still missed


def test_icmp_is_ignored(run):
    echo = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"ICMP-CANARY"))
    ping = dpkt.ip.IP(src=socket.inet_aton(ME), dst=socket.inet_aton(SINK), p=dpkt.ip.IP_PROTO_ICMP, data=echo)
    assert run([ping]) == ()


def test_ipv6_connections_are_matched(run, tmp_path):
    me6, sink6 = "fd00:eaea::1", "2001:db8::5"
    pkts = [dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, a), dst=socket.inet_pton(socket.AF_INET6, b),
                         nxt=dpkt.ip.IP_PROTO_TCP, hlim=64, data=seg)
            for a, b, seg in ((me6, sink6, tcp(40007, 443, SYN)), (sink6, me6, tcp(443, 40007, SYN | ACK)),
                              (me6, sink6, tcp(40007, 443, PSH | ACK, b"V6-CANARY")))]
    for p in pkts:
        p.plen = len(p.data)
    f = flow_for("tcp", 40007)
    f.client_conn.peername, f.client_conn.sockname = (me6, 40007, 0, 0), (sink6, 443, 0, 0)
    assert run(pkts, [f]) == ()
    assert "[" not in (run(pkts) or ("",))[0] and run(pkts)


def test_only_tun_runs_are_checked_and_a_lost_pcap_is_a_problem(tmp_path):
    assert groundtruth.problems(tmp_path, {"capture": "proxy"}) == ()
    assert groundtruth.problems(tmp_path, {"capture": "tun"}) == ()  # recorded without tcpdump
    [problem] = groundtruth.problems(tmp_path, TUN)
    assert "capture.pcap was recorded but is missing" in problem
    (tmp_path / "capture.pcap").write_bytes(b"not a pcap at all")
    [problem] = groundtruth.problems(tmp_path, TUN)
    assert "cannot be read" in problem


def test_a_truncated_flow_file_cannot_hide_a_connection(run, tmp_path):
    packets = connection(40001) + connection(40002)
    run(packets, [flow_for("http", 40001), flow_for("tcp", 40002)])
    (tmp_path / "flows.mitm").write_bytes(b"")  # what a program did to its own evidence
    assert len(groundtruth.problems(tmp_path, TUN)) == 2


def test_long_lists_are_cut(run):
    packets = [p for port in range(41000, 41020) for p in connection(port)]
    problems = run(packets)
    assert len(problems) == groundtruth.MAX_LISTED + 1 and "10 more" in problems[-1]
