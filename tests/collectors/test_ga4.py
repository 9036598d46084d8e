import pytest

from .helpers import protocol, request

MP = {"client_id": "1234567890.1700000000", "events": [{"name": "cli_run", "params": {"cmd": "init"}}]}


@pytest.mark.parametrize("method, url, body, ctype, expected", [
    ("POST", "https://www.google-analytics.example/mp/collect?measurement_id=G-ABC123&api_secret=s3cr3t", MP,
     "application/json", "ga4"),
    ("POST", "https://own.example/mp/collect", MP, "application/json", "ga4"),
    ("GET", "https://x.example/g/collect?v=2&tid=G-ABC123&cid=111.222&en=page_view", None, "", "ga4"),
    ("POST", "https://x.example/collect", "v=1&tid=UA-1234-1&cid=555&t=event&ec=cli",
     "application/x-www-form-urlencoded", "ga4"),
    # negative rows
    ("POST", "https://x.example/mp/collect", {"events": [{"name": "x"}]}, "application/json", ""),  # no client id
    ("GET", "https://x.example/search?v=1&q=ua", None, "", ""),
])
def test_ga4(method, url, body, ctype, expected):
    assert protocol(method, url, body, ctype) == expected


def test_ga4_keys_are_not_identifiers():
    found = request("POST", "https://x.example/mp/collect?measurement_id=G-A&api_secret=s", MP)
    assert found.ids == ("body:$.client_id",)
    assert set(found.keys) == {"query:api_secret", "query:measurement_id"}
