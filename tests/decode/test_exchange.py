from auditor.decode import layers
from auditor.flowstore import Exchange, Message

from .helpers import http, stream


def test_parts_of_an_http_request():
    ex = http("https://t.example/v1/e?uid=a%2Fb&flag&q=x+y#frag",
              headers=[("Host", "t.example"), ("User-Agent", "tool/1.0"), ("Cookie", 'sid=abc; pref="x%20y"'),
                       ("Content-Type", "text/plain")], body=b"hello")
    got = [(l.location, l.data, l.chain) for l in layers(ex)]
    assert got == [
        ("url", b"https://t.example/v1/e", ()),
        ("query:uid", b"a/b", ("query",)),
        ("query", b"flag", ("query",)),
        ("query:q", b"x y", ("query",)),
        ("header:user-agent", b"tool/1.0", ()),
        ("cookie:sid", b"abc", ("cookie",)),
        ("cookie:pref", b"x y", ("cookie",)),
        ("header:content-type", b"text/plain", ()),
        ("body", b"hello", ()),
    ]


def test_host_header_and_fragment_are_not_data():
    locs = [l.location for l in layers(http("https://t.example/#secret", headers=[("Host", "t.example")]))]
    assert locs == ["url"]


def test_tcp_stream_is_one_layer_of_client_bytes_only():
    ex = stream("tcp", b"HEL", b"LO", server=(b"server says",))
    assert [(l.location, l.data) for l in layers(ex)] == [("stream:client", b"HELLO")]


def test_udp_and_websocket_messages_keep_their_index():
    ex = Exchange(id="w", kind="websocket", host="h", url="wss://h/ws",
                  messages=(Message(True, b"one"), Message(False, b"reply"), Message(True, b"two")))
    assert [(l.location, l.data) for l in layers(ex) if l.part != "url"] == [
        ("message[0]", b"one"), ("message[2]", b"two")]
    ex = stream("udp", b"dgram")
    assert [l.location for l in layers(ex)] == ["message[0]"]


def test_dns_question_name():
    ex = Exchange(id="d", kind="dns", host="ws-host.leak.example", request_body=b"\x00packed")
    assert [(l.location, l.data) for l in layers(ex)] == [("dns", b"ws-host.leak.example")]
