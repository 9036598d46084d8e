import json

import pytest

from .helpers import protocol, request

V2 = {"api_key": "a1b2c3", "events": [{"event_type": "cli start", "device_id": "d-123456789", "user_id": "u1"}]}


@pytest.mark.parametrize("url, body, ctype, expected", [
    ("https://api2.amplitude.example/2/httpapi", V2, "application/json", "amplitude"),
    ("https://proxy.example/batch", V2, "application/json", "amplitude"),
    ("https://api.amplitude.example/", "client=a1b2c3&e=" + json.dumps([{"event_type": "x", "device_id": "d1"}]),
     "application/x-www-form-urlencoded", "amplitude"),
    # negative rows
    ("https://x.example/", {"api_key": "k", "events": [{"name": "meeting"}]}, "application/json", ""),  # a calendar
    ("https://x.example/", {"events": [{"event_type": "x"}]}, "application/json", ""),  # no key
])
def test_amplitude(url, body, ctype, expected):
    assert protocol("POST", url, body, ctype) == expected


def test_amplitude_ids():
    found = request("POST", "https://x.example/2/httpapi", V2)
    assert set(found.ids) == {"body:$.events[*].device_id", "body:$.events[*].user_id"}
    assert found.keys == ("body:$.api_key",)
