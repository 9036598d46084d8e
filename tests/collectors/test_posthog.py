import pytest

from .helpers import protocol, request


@pytest.mark.parametrize("url, body, expected", [
    ("https://eu.i.posthog.example/batch/", {"api_key": "phc_abc", "batch": [
        {"event": "cli_run", "properties": {"distinct_id": "a1b2c3d4e5"}}]}, "posthog"),
    ("https://self-hosted.example/capture/", {"api_key": "phc_abc", "event": "x", "distinct_id": "u-1"}, "posthog"),
    ("https://x.example/i/v0/e/", {"token": "phc_x", "event": "$pageview", "distinct_id": "d"}, "posthog"),
    # negative rows
    ("https://x.example/capture/", {"api_key": "sk_live", "image": "..."}, ""),  # a screenshot API
    ("https://x.example/batch/", {"api_key": "phc_abc", "batch": [{"sku": 1}]}, ""),
])
def test_posthog(url, body, expected):
    assert protocol("POST", url, body) == expected


def test_posthog_ids_and_key():
    found = request("POST", "https://x.example/batch/", {"api_key": "phc_abc", "batch": [
        {"event": "e", "distinct_id": "d1", "properties": {"$device_id": "dev"}}]})
    assert set(found.ids) == {"body:$.batch[*].distinct_id", "body:$.batch[*].properties.$device_id"}
    assert found.keys == ("body:$.api_key",)
