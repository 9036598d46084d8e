import pytest

from .helpers import kinds


@pytest.mark.parametrize("text, kind, value", [
    ('{"ip": "81.2.69.160"}', "ipv4-public", "81.2.69.160"),
    ("client 81.2.69.160 connected", "ipv4-public", "81.2.69.160"),
    ('"addr": "2a00:1450:4007:80e::200e"', "ipv6-public", "2a00:1450:4007:80e::200e"),
    ("[2001:4860:4860::8888]:443", "ipv6-public", "2001:4860:4860::8888"),
])
def test_public_addresses(text, kind, value):
    assert (kind, value) in kinds(text)


@pytest.mark.parametrize("text", [
    "10.0.0.1", "192.168.1.20", "172.16.5.4", "127.0.0.1", "169.254.1.1", "100.64.0.1",
    "192.0.2.1", "198.51.100.7", "203.0.113.9", "0.0.0.0", "255.255.255.255", "224.0.0.1",
    '"version": "1.2.3.4"', "Chrome/120.0.6099.109", "Safari/537.36", "v2.4.1.0", "10.0.19045.1",
    "1.2.3.4", "8.8.4.4", "1.2.3.4.5", "300.1.1.1", "01.02.03.04", "build 4.1.2.7",
    "fe80::1ff:fe23:4567:890a", "::1", "fd12:3456:789a::1", "2001:db8::1",  # private/doc IPv6
    "12:30:45", "2024-11-05T12:30:45Z", "de:ad:be:ef:00:01",
])
def test_not_public_addresses(text):
    assert [k for k, _ in kinds(text) if k.startswith("ipv")] == []


@pytest.mark.parametrize("field, found", [("version", False), ("appVersion", False), ("build", False),
                                          ("clientIp", True), ("server", True)])
def test_field_names_outside_the_data(field, found):
    from auditor.detect import heuristic_hits
    assert bool(heuristic_hits(b"81.2.69.160", field)) is found
