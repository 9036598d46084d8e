import base64
import json

import pytest

from .helpers import protocol, request

EVENT = {"event": "Command", "properties": {"token": "t0k3n", "distinct_id": "9f8e7d6c5b4a", "cmd": "init"}}


@pytest.mark.parametrize("url, body, ctype, expected", [
    ("https://api.mixpanel.example/track", [EVENT], "application/json", "mixpanel"),
    ("https://api.mixpanel.example/track", "data=" + base64.b64encode(json.dumps([EVENT]).encode()).decode(),
     "application/x-www-form-urlencoded", "mixpanel"),
    ("https://api.mixpanel.example/engage", [{"$token": "t", "$distinct_id": "d-1", "$set": {"a": 1}}],
     "application/json", "mixpanel"),
    # negative rows
    ("https://x.example/api", [{"event": "Concert", "properties": {"venue": "hall"}}], "application/json", ""),
    ("https://x.example/api", {"token": "t", "distinct_id": "d"}, "application/json", ""),
])
def test_mixpanel(url, body, ctype, expected):
    assert protocol("POST", url, body, ctype) == expected


def test_mixpanel_ids_and_token():
    found = request("POST", "https://x.example/track", [EVENT])
    assert found.ids == ("body:$[*].properties.distinct_id",)
    assert found.keys == ("body:$[*].properties.token",)
