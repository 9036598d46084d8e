"""SEC-004 for egress the full capture recorded but could not read: undecrypted QUIC, opaque binary."""

import os

import pytest

from auditor.flowstore import Exchange, Message
from auditor.rules import ExchangeFacts, RunFacts, security_rules, uninspected_rules

QUIC_INITIAL = bytes([0xC3]) + (1).to_bytes(4, "big") + b"\x08" + os.urandom(8) + os.urandom(1180)
RANDOM = bytes(range(256)) * 2  # every byte value equally often: maximal entropy, like ciphertext


def facts(*exchanges, variant="unset"):
    xs = [ExchangeFacts(ex, "unknown", "", []) for ex in exchanges]
    return RunFacts(scenario="s", run=variant, variant=variant, same_home_as="", exchanges=xs, events=[],
                    notice_time=None, notice_source="heuristic", has_denied=False, capture="tun")


def stream(kind, host, *payloads, tls=False, ts=1.0):
    return Exchange(id=f"{host}-{kind}-{ts}", kind=kind, host=host, port=443, tls=tls, timestamp=ts,
                    messages=tuple(Message(True, p) for p in payloads) + (Message(False, RANDOM),))


@pytest.mark.parametrize("ex, why", [
    (stream("udp", "quic.example", QUIC_INITIAL), "QUIC was not decrypted"),
    (stream("tcp", "blob.example", RANDOM[:100], RANDOM[100:]), "opaque binary (raw tcp)"),
    (stream("tcp", "blob.example", RANDOM, tls=True), "opaque binary (inside TLS tcp)"),
    (stream("udp", "blob.example", RANDOM), "opaque binary (raw udp)"),
])
def test_uninspectable_streams(ex, why):
    [f] = uninspected_rules(facts(ex))
    assert (f.rule, f.host, f.severity) == ("SEC-004", ex.host, "medium") and why in f.detail
    assert f.id in {g.id for g in security_rules(facts(ex))}


@pytest.mark.parametrize("ex", [
    stream("tcp", "beacon.example", b"BEACON id=42 user=x\n"),  # readable: SEC-001's business
    stream("tcp", "json.example", b'{"event": "start", "user": "x", "values": [1, 2, 3, 4, 5, 6, 7, 8]}'),
    stream("tcp", "short.example", os.urandom(16)),  # too short to tell
    stream("tcp", "zeros.example", bytes(512)),  # binary but structured, not ciphertext
    stream("udp", "quic.example", QUIC_INITIAL[:6]),  # truncated: not a QUIC packet
    Exchange(id="h", kind="http", host="api.example", request_body=RANDOM),  # bodies have decoders
    Exchange(id="d", kind="dns", host="x.example", request_body=RANDOM),
])
def test_readable_or_decodable_egress_is_not_sec_004(ex):
    assert uninspected_rules(facts(ex)) == []


def test_one_finding_per_host():
    run = facts(stream("tcp", "blob.example", RANDOM, ts=1), stream("tcp", "blob.example", RANDOM, ts=2),
                stream("udp", "quic.example", QUIC_INITIAL, ts=3))
    assert [f.host for f in uninspected_rules(run)] == ["blob.example", "quic.example"]
