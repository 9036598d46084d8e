import pytest

from .helpers import b64url, protocol, request

UE = {"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
      "data": {"schema": "iglu:com.acme/cli_run/jsonschema/1-0-0", "data": {"command": "init"}}}
CX = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
      "data": [{"schema": "iglu:com.acme/machine/jsonschema/1-0-0", "data": {"os": "linux"}}]}
TP2 = {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
       "data": [{"e": "ue", "ue_px": b64url(UE), "cx": b64url(CX), "tv": "py-1.0.0", "aid": "acme-cli",
                 "duid": "8d2f55c2-6a94-4a44-9a38-3f3f2d7c2c11", "p": "pc"}]}


@pytest.mark.parametrize("method, url, body, expected", [
    ("POST", "https://collector.unknown-vendor.example/com.snowplowanalytics.snowplow/tp2", TP2, "snowplow"),
    ("POST", "https://c.example/anything", TP2, "snowplow"),  # recognised by payload, not path or host
    ("GET", "https://c.example/i?e=pv&tv=js-3.1.0&aid=site&duid=abc", None, "snowplow"),
    # negative rows: look alike, are not
    ("GET", "https://c.example/i?e=pv", None, ""),  # no tracker version or platform
    ("POST", "https://c.example/com.snowplowanalytics.snowplow/tp2", {"schema": "iglu:other/x", "data": []}, ""),
    ("GET", "https://shop.example/i?e=mail&tv=1", None, ""),
])
def test_snowplow(method, url, body, expected):
    assert protocol(method, url, body) == expected


def test_snowplow_events_ids_and_keys_from_the_decoded_envelope():
    found = request("POST", "https://c.example/com.snowplowanalytics.snowplow/tp2", TP2, gz=True)
    assert set(found.events) == {"ue", "com.acme/cli_run"}
    assert found.ids == ("body:$.data[*].duid",)
    assert found.keys == ("body:$.data[*].aid",)


def test_a_url_that_is_not_a_url_is_no_protocol_and_no_crash():
    from auditor.collectors import recognise
    from auditor.flowstore import Exchange
    from auditor.inspection import inspect

    ex = Exchange(id="1", kind="http", host="a[b.example", method="GET", url="https://a[b.example/i?e=pv&tv=1",
                  path="/i?e=pv&tv=1")
    assert recognise(ex, inspect(ex, None)).protocol == "snowplow"
