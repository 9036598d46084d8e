import json

import pytest

from .helpers import protocol, request

ENVELOPE = {"ver": 1, "name": "Microsoft.ApplicationInsights.Event", "iKey": "c4395b75-49cc-422c-bc95-c7d51aef5d46",
            "tags": {"ai.device.id": "ws-host", "ai.user.id": "u-123456"},
            "data": {"baseType": "EventData", "baseData": {"name": "tool/command", "properties": {"a": "b"}}}}


@pytest.mark.parametrize("url, body, expected", [
    ("https://dc.services.visualstudio.example/v2/track", [ENVELOPE], "appinsights"),
    ("https://westeurope-5.in.applicationinsights.example/v2.1/track", ENVELOPE, "appinsights"),
    ("https://own-proxy.example/ingest", "\n".join([json.dumps(ENVELOPE)] * 2), "appinsights"),
    # negative rows
    ("https://x.example/v2/track", [{"name": "Microsoft.Office.Doc", "data": {"baseType": "x"}}], ""),
    ("https://x.example/v2/track", [{"name": "Microsoft.ApplicationInsights.Event", "iKey": "k"}], ""),
])
def test_appinsights(url, body, expected):
    assert protocol("POST", url, body) == expected


def test_appinsights_instrumentation_key_is_a_constant():
    found = request("POST", "https://x.example/v2/track", [ENVELOPE])
    assert found.keys == ("body:$[*].iKey",)
    assert set(found.ids) == {'body:$[*].tags["ai.device.id"]', 'body:$[*].tags["ai.user.id"]'}
    assert found.events == ("tool/command",)
