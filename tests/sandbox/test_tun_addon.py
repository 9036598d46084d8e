"""The recorder addon's full-capture duties, driven by mitmproxy's test helpers (no network):
DNS answered with synthetic addresses, connections attributed to names, allowed hosts forwarded
by name only, sinkholed TLS intercepted on the client side only, covert port-53 payloads kept."""

import ipaddress
import json
import ssl

import pytest
from mitmproxy import connection, dns, io
from mitmproxy.proxy import context, events, layer, layers, server_hooks
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow

from auditor.capture import SYNTHETIC_NET, AddressBook, Recorder

ALLOW = ["localhost", "index.example", "*.files.example"]


@pytest.fixture
def rec(tmp_path):
    r = Recorder()
    with taddons.context(r) as tctx:
        tctx.configure(r, egress_dir=str(tmp_path), egress_allow=ALLOW)
        r.sink_addr, r.sink_udp_addr = ("127.0.0.1", 9), ("127.0.0.1", 10)
        yield r, tmp_path, tctx


def events_of(d):
    return [json.loads(l) for l in (d / "events.jsonl").read_text().splitlines()]


def dns_query(name: str, qtype=dns.types.A, query=True) -> dns.DNSFlow:
    msg = dns.DNSMessage(id=7, query=query, op_code=dns.op_codes.QUERY, authoritative_answer=False,
                         truncation=False, recursion_desired=True, recursion_available=False, reserved=0,
                         response_code=dns.response_codes.NOERROR,
                         questions=[dns.Question(name, qtype, dns.classes.IN)], answers=[], authorities=[],
                         additionals=[])
    return tflow.tdnsflow(req=msg)


def answer(f: dns.DNSFlow) -> list[str]:
    return [str(ipaddress.ip_address(a.data)) for a in f.response.answers]


def test_address_book_gives_one_stable_address_per_name():
    book = AddressBook()
    a, new_a = book.assign("a.example")
    b, _ = book.assign("b.example")
    again, new_again = book.assign("a.example")
    assert (new_a, new_again) == (True, False) and a == again != b
    assert ipaddress.ip_address(a) in SYNTHETIC_NET and book.name(b) == "b.example" and book.name("1.2.3.4") == ""


def test_a_queries_get_synthetic_addresses_for_every_name(rec):
    r, d, _ = rec
    tele, again, allowed = dns_query("Tele.Tool.example."), dns_query("tele.tool.example"), dns_query("index.example")
    for f in (tele, again, allowed):
        r.dns_request(f)
    assert answer(tele) == answer(again) != answer(allowed)
    assert all(ipaddress.ip_address(answer(f)[0]) in SYNTHETIC_NET for f in (tele, allowed))
    assert tele.response.response_code == dns.response_codes.NOERROR
    assert (tele.metadata["egress.host"], tele.metadata["egress.action"]) == ("tele.tool.example", "sinkhole")
    assert allowed.metadata["egress.action"] == "forward"
    # the mapping is persisted once per name, so offline analysis can attribute addresses
    mapped = [(e["name"], e["address"], e["allowed"]) for e in events_of(d) if e["event"] == "dns-synthetic"]
    assert mapped == [("tele.tool.example", answer(tele)[0], False), ("index.example", answer(allowed)[0], True)]


@pytest.mark.parametrize("qtype", [dns.types.AAAA, dns.types.TXT, dns.types.HTTPS, dns.types.MX])
def test_other_query_types_are_answered_empty(rec, qtype):
    r, _, _ = rec
    f = dns_query("tele.tool.example", qtype)
    r.dns_request(f)
    assert f.response.response_code == dns.response_codes.NOERROR and f.response.answers == []


def test_dns_responses_and_answered_flows_are_left_alone(rec):
    r, _, _ = rec
    resp = dns_query("x.example", query=False)
    r.dns_request(resp)
    assert resp.response is None
    done = tflow.tdnsflow(resp=True)
    before = done.response
    r.dns_request(done)
    assert done.response is before


def server_hook(address, sni=None, transport="tcp"):
    server = connection.Server(address=address, sni=sni, transport_protocol=transport)
    return server, server_hooks.ServerConnectionHookData(server=server, client=tflow.tclient_conn())


def synthetic(r, name):
    f = dns_query(name)
    r.dns_request(f)
    return answer(f)[0]


def test_allowed_name_is_forwarded_by_name_never_to_the_address_the_client_used(rec):
    r, d, _ = rec
    addr = synthetic(r, "index.example")
    server, data = server_hook((addr, 443), sni="index.example")
    r.server_connect(data)
    assert server.address == ("index.example", 443)
    up = [e for e in events_of(d) if e["event"] == "upstream"]
    assert up == [{**up[0], "host": "index.example", "address": addr, "port": 443}]


@pytest.mark.parametrize("name, sni, address", [
    ("tele.tool.example", None, None),  # a sinkholed name
    ("index.example", "exfil.example", None),  # allowed name, foreign SNI (fronting)
    (None, "index.example", "198.51.100.7"),  # an address the client chose itself, allowed SNI
    (None, None, "2001:db8::5"),  # an IPv6 literal
])
def test_everything_else_goes_to_the_local_sink(rec, name, sni, address):
    r, _, _ = rec
    target = address or synthetic(r, name)
    server, data = server_hook((target, 443), sni=sni)
    r.server_connect(data)
    assert server.address == r.sink_addr and server.sni is None
    udp, data = server_hook((target, 443), sni=sni, transport="udp")
    r.server_connect(data)
    assert udp.address == r.sink_udp_addr


def test_streams_are_attributed_to_the_name_and_keep_their_destination(rec):
    r, d, _ = rec
    addr = synthetic(r, "beacon.example")
    f = tflow.ttcpflow()
    f.client_conn.sni = None
    f.server_conn.address = (addr, 7000)
    r.tcp_start(f)
    assert f.metadata == {"egress.host": "beacon.example", "egress.destination": [addr, 7000],
                          "egress.action": "sinkhole"}
    u = tflow.tudpflow()
    u.client_conn.sni = None
    u.server_conn.address = (synthetic(r, "a.files.example"), 9999)
    r.udp_start(u)
    assert (u.metadata["egress.host"], u.metadata["egress.action"]) == ("a.files.example", "forward")
    r.udp_end(u)
    r.udp_error(u)  # a stream ended at shutdown is still reported: it must not be written twice
    r.done()
    with open(d / "flows.mitm", "rb") as fo:
        streams = [x.id for x in io.FlowReader(fo).stream() if x.type in ("tcp", "udp")]
    assert streams == [u.id, f.id]


def test_http_to_a_synthetic_address_is_judged_by_its_name(rec):
    r, _, _ = rec
    f = tflow.tflow()
    f.request.host = synthetic(r, "index.example")
    f.request.headers["host"] = "index.example"
    f.client_conn.sni = "index.example"
    r.request(f)
    assert f.response is None and f.metadata["egress.action"] == "forward"
    g = tflow.tflow()
    g.request.host = synthetic(r, "tele.tool.example")
    g.request.headers["host"] = "index.example"  # an allowed Host header on a sinkholed address
    r.request(g)
    assert g.response is not None and g.metadata["egress.action"] == "sinkhole"
    h = tflow.tflow()
    h.request.host = "198.51.100.7"
    h.request.headers["host"] = "index.example"
    r.request(h)
    assert h.metadata["egress.action"] == "sinkhole"


def test_intercepted_tls_stays_https_without_a_server_side(rec):
    r, _, _ = rec
    f = tflow.tflow()
    f.client_conn.tls = True
    f.client_conn.timestamp_tls_setup = 1.0
    f.request.scheme = "http"
    r.requestheaders(f)
    assert f.request.scheme == "https"
    plain = tflow.tflow()
    plain.client_conn.tls, plain.client_conn.timestamp_tls_setup = False, None
    r.requestheaders(plain)
    assert plain.request.scheme == "http"


def client_hello(sni: str) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def next_layer(tctx, data: bytes, server, transport="tcp") -> layer.NextLayer:
    client = tflow.tclient_conn()
    client.transport_protocol, client.alpn, client.sni = transport, None, None
    client.proxy_mode = ProxyMode.parse("tun")
    ctx = context.Context(client, tctx.options)
    ctx.server = connection.Server(address=server, transport_protocol=transport)
    layers.modes.TransparentProxy(ctx)  # the layer below, as in a real tun connection
    nl = layer.NextLayer(ctx)
    nl.events = [events.DataReceived(client, data)]
    return nl


def test_tls_to_a_sinkholed_destination_is_intercepted_on_the_client_side_only(rec):
    r, _, tctx = rec
    sink = next_layer(tctx, client_hello("tele.tool.example"), (synthetic(r, "tele.tool.example"), 443))
    r.next_layer(sink)
    assert type(sink.layer) is layers.ClientTLSLayer
    fronted = next_layer(tctx, client_hello("exfil.example"), (synthetic(r, "index.example"), 443))
    r.next_layer(fronted)
    assert type(fronted.layer) is layers.ClientTLSLayer
    allowed = next_layer(tctx, client_hello("index.example"), (synthetic(r, "index.example"), 443))
    r.next_layer(allowed)
    assert allowed.layer is None  # mitmproxy's own choice: TLS on both sides, forwarded


@pytest.mark.parametrize("data, expected", [
    (b"not a dns message at all", layers.UDPLayer),
    (b"\x00", layers.UDPLayer),
    (dns_query("x.example").request.packed, type(None)),  # real DNS: mitmproxy's DNS layer
])
def test_non_dns_payloads_to_port_53_stay_recordable(rec, data, expected):
    r, _, tctx = rec
    nl = next_layer(tctx, data, ("198.51.100.53", 53), transport="udp")
    r.next_layer(nl)
    assert type(nl.layer) is expected


@pytest.mark.parametrize("data, raw", [
    (b"BEACON id=42 user=x\n", True),
    (b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", False),
    (b"POST /c HTTP/1.0\n", False),
])
def test_plaintext_lines_that_are_not_http_stay_raw(rec, data, raw):
    r, _, tctx = rec
    nl = next_layer(tctx, data, (synthetic(r, "beacon.example"), 7000))
    r.next_layer(nl)
    assert (type(nl.layer) is layers.TCPLayer) is raw
