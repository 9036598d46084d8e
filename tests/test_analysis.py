"""Identifier candidates and telemetry classification used by the analysis."""

import pytest

from auditor.analysis import _looks_like_id
from auditor.catalog import classify, event_keys


@pytest.mark.parametrize("value, is_id", [
    ("c7e516e11ea94bd6a4c6c0f0e1a9b2d3", True),           # uuid4 hex
    ("0f8fad5b-d9cb-469f-a165-70867728950e", True),       # uuid
    ("ad91c3" + "0" * 58, False),                         # too few distinct characters
    ("Zq3kR9vX2mLp7TwY4nB8sQ1a", True),                   # mixed token
    ("Python-urllib/3.11", False),                        # user agent
    ("1.4.2", False), ("2026-11-30T04:00:00Z", False),    # versions and times
    ("application/json", False), ("hello world", False),
    ("aaaaaaaaaaaaaaaaaaaaaaaa", False),
])
def test_identifier_candidates(value, is_id):
    assert _looks_like_id(value) is is_id


@pytest.mark.parametrize("host, path, declared, allowed, keys, cls", [
    ("t.example", "/x", ("t.example",), (), set(), "telemetry"),
    ("api.example", "/v1/t", ("api.example/v1/*",), (), set(), "telemetry"),
    ("api.segment.io", "/v1/batch", (), (), set(), "telemetry"),
    ("telemetry.tool.example", "/", (), (), set(), "telemetry"),
    ("idx.example", "/simple/x/", (), ("idx.example",), set(), "functional"),
    ("app.example", "/api", (), (), {"event", "anonymousid"}, "telemetry"),
    ("app.example", "/api", (), (), {"properties"}, "unknown"),
    ("app.example", "/track", (), (), {"properties"}, "telemetry"),
    ("docs.example", "/page", (), (), set(), "unknown"),
])
def test_classify(host, path, declared, allowed, keys, cls):
    assert classify(host, path, declared, allowed, keys)[0] == cls


def test_event_keys_from_key_names():
    assert event_keys({"batch", "event", "anonymousid", "name"}) == {"event", "anonymousid"}
