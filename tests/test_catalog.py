"""Names and shapes that suggest telemetry: they label, they never decide (see test_classify)."""

import pytest

from auditor.catalog import event_keys, event_shaped, name_label


@pytest.mark.parametrize("host, path, label", [
    ("api.segment.io", "/v1/batch", "known analytics host"),
    ("o123.ingest.sentry.io", "/api/1/envelope/", "known analytics host"),
    ("telemetry.tool.example", "/", "host name says telemetry"),
    ("t.tool.example", "/x", "host name says telemetry"),
    ("api.tool.example", "/v1/track", "path says telemetry"),
    # negative rows
    ("segment.io.evil.example", "/", ""),
    ("telemetryless.example", "/docs", ""),
    ("api.tool.example", "/v1/tracks-list-of-songs", ""),
])
def test_name_label(host, path, label):
    assert name_label(host, path) == label


@pytest.mark.parametrize("keys, path, shaped", [
    ({"event", "anonymousid"}, "/api", True),
    ({"properties"}, "/track", True),
    ({"properties"}, "/api", False),
    (set(), "/track", False),
])
def test_event_shaped(keys, path, shaped):
    assert event_shaped(keys, path) is shaped


def test_event_keys_from_key_names():
    assert event_keys({"batch", "event", "anonymousid", "name"}) == {"event", "anonymousid"}
