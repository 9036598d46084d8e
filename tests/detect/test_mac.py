import pytest

from .helpers import kinds


@pytest.mark.parametrize("text, value", [
    ('"mac": "3c:22:fb:12:34:56"', "3c:22:fb:12:34:56"),
    ("hw=3C-22-FB-12-34-56;", "3C-22-FB-12-34-56"),
])
def test_macs(text, value):
    assert kinds(text) == [("mac", value)]


@pytest.mark.parametrize("text", [
    "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb",  # null, broadcast, multicast
    "SHA256 ab:cd:ef:01:23:45:67:89:ab:cd",  # a fingerprint, longer than a MAC
    "fe80::3e22:fbff:fe12:3456", "12:30:45", "2024-11-05",
])
def test_not_macs(text):
    assert [k for k, _ in kinds(text) if k == "mac"] == []
