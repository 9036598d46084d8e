import json

import pytest

from .helpers import protocol, request

HEADER = {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "sent_at": "2026-11-30T10:00:00Z",
          "dsn": "https://abc@o1.ingest.sentry.example/42"}
EVENT = {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "platform": "python", "user": {"id": "u-77"},
         "exception": {"values": [{"type": "RuntimeError"}]}}
ENVELOPE = "\n".join(json.dumps(x) for x in (HEADER, {"type": "event"}, EVENT))


@pytest.mark.parametrize("url, body, ctype, headers, expected", [
    ("https://o1.ingest.sentry.example/api/42/envelope/", ENVELOPE, "application/x-sentry-envelope", (), "sentry"),
    ("https://glitchtip.example/api/7/store/", EVENT, "application/json",
     (("X-Sentry-Auth", "Sentry sentry_version=7, sentry_key=abc"),), "sentry"),
    ("https://errors.example/api/3/store/?sentry_key=abc&sentry_version=7", EVENT, "application/json", (), "sentry"),
    # negative rows
    ("https://x.example/api/42/envelope/", {"letter": "hello"}, "application/json", (), ""),
    ("https://x.example/store/", EVENT, "application/json", (), ""),  # no Sentry API path, no key
])
def test_sentry(url, body, ctype, headers, expected):
    assert protocol("POST", url, body, ctype, headers) == expected


def test_sentry_envelope_items_and_user_id():
    found = request("POST", "https://o.example/api/42/envelope/", ENVELOPE, "application/x-sentry-envelope")
    assert found.events == ("event",)
    assert "body:$[*].user.id" in found.ids  # NDJSON lines are slots, like array elements
    assert "body:$[*].dsn" in found.keys
