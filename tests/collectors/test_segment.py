import pytest

from .helpers import protocol, request

TRACK = {"type": "track", "event": "Command Run", "anonymousId": "5b0a3c4e-9b1f-4a3e-8f5e-2b8d3c1a9e77",
         "properties": {"cmd": "init"}, "messageId": "m-1"}


@pytest.mark.parametrize("url, body, expected", [
    ("https://api.segment.example/v1/batch", {"batch": [TRACK], "writeKey": "wk_123"}, "segment"),
    ("https://events.own-domain.example/x", {"batch": [TRACK]}, "segment"),
    ("https://e.example/v1/track", {"event": "Run", "userId": "u-1"}, "segment"),
    ("https://e.example/v1/identify", {"type": "identify", "userId": "u-1", "traits": {"plan": "x"}}, "segment"),
    # negative rows
    ("https://e.example/api/items", {"type": "track", "name": "a song"}, ""),  # no anonymousId/userId
    ("https://e.example/api/users", {"userId": "u-1", "name": "x"}, ""),      # an API call, not a tracking call
])
def test_segment(url, body, expected):
    assert protocol("POST", url, body) == expected


def test_segment_ids_and_write_key():
    found = request("POST", "https://e.example/v1/batch", {"batch": [TRACK, TRACK], "writeKey": "wk"},
                    headers=(("Authorization", "Basic d2s6"),))
    assert found.ids == ("body:$.batch[*].anonymousId",)
    assert set(found.keys) == {"body:$.writeKey", "header:authorization"}
    assert found.events == ("Command Run",)
