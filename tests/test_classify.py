"""Per-request classification across variants: the variants are the experiment, names only label."""

import pytest

from auditor import analysis, collectors
from auditor.classify import declared, path_template, request_key
from auditor.flowstore import Exchange
from auditor.rules import RunFacts, consent_rules



@pytest.mark.parametrize("path, template", [
    ("/v1/events", "/v1/events"),
    ("/api/users/8c1f2a3b4c5d6e7f8091a2b3/events?x=1", "/api/users/{id}/events"),
    ("/api/7/envelope/", "/api/7/envelope/"),                     # one digit: an API version, kept
    ("/projects/123456/track", "/projects/{id}/track"),
    ("/pkg/demo_tool-1.4.2.tar.gz", "/pkg/demo_tool-{v}.tar.gz"),
    ("/check/2.11.11/latest", "/check/{v}/latest"),
    ("/u/0f8fad5b-d9cb-469f-a165-70867728950e", "/u/{id}"),
    ("/", "/"),
])
def test_path_template(path, template):
    assert path_template(path) == template


def test_request_keys():
    assert request_key("http", "POST", "t.example", "/v1/u/1234567/e") == "POST t.example/v1/u/{id}/e"
    assert request_key("dns", "A", "t.example", "") == "dns t.example"
    assert request_key("tcp", "", "t.example", "", 7000) == "tcp t.example:7000"


@pytest.mark.parametrize("host, path, said", [
    ("t.example", "/x", "telemetry"),
    ("api.example", "/v2/latest", "functional"),
    ("api.example", "/v2/events", ""),              # the same host, another path: not declared
    ("idx.example", "/simple/", "allowed"),
    ("other.example", "/", ""),
])
def test_declared(host, path, said):
    assert declared(host, path, ("t.example",), ("api.example/v2/latest",), ("idx.example",)) == said


def test_a_lookup_has_no_path_the_host_of_a_path_pattern_is_enough():
    assert declared("api.example", None, (), ("api.example/v2/latest",), ()) == "functional"


def http(host, path, method="POST", body=b"", ts=10.0, headers=()):
    return Exchange(id=f"{host}{path}{ts}", kind="http", host=host, method=method, scheme="https", tls=True,
                    url=f"https://{host}{path}", path=path, request_body=body, timestamp=ts,
                    request_headers=(("Content-Type", "application/json"), *headers))


def run(variant, *exchanges, scope=analysis.Scope(), name=None, complete=True, has_denied=True):
    facts = [analysis._exchange_facts(e, None, scope, []) for e in exchanges]
    return RunFacts("s", name or variant, variant, "", facts, [], 1.0, "expect.notice", has_denied, "proxy",
                    complete=complete)


def classes(runs):
    judged = analysis.judge(runs)
    return {c.key: (c.cls, c.confidence) for c in judged.classes}, {c.key: c for c in judged.classes}


EVENT = b'{"metrics": [{"name": "cli_command", "value": 1}]}'
UPDATE = "/v1/latest?current=1.2.3"


def test_collector_and_update_check_on_one_host_are_told_apart():
    """Only the collector honours the opt-out: it is telemetry; the update check is not, whatever its host."""
    unset = run("unset", http("api.tool.example", "/events/metrics", body=EVENT),
                http("api.tool.example", UPDATE, "GET"))
    denied = run("denied", http("api.tool.example", UPDATE, "GET"))
    dnt = run("dnt", http("api.tool.example", UPDATE, "GET"))
    got, full = classes([unset, denied, dnt])
    assert got["POST api.tool.example/events/metrics"] == ("telemetry", "certain")
    assert "sent in unset, not in denied, dnt: gated by consent" in full["POST api.tool.example/events/metrics"].evidence
    assert got["GET api.tool.example/v1/latest"] == ("undeclared", "certain")
    assert any("the same request in every variant (unset, denied, dnt)" in e
               for e in full["GET api.tool.example/v1/latest"].evidence)
    assert not consent_rules(denied) and not consent_rules(dnt)
    assert {f.rule for f in consent_rules(unset)} == {"CONSENT-003"}


def test_what_only_a_consenting_run_sends_is_opt_in_telemetry():
    got, full = classes([run("unset"), run("granted", http("c.example", "/x", body=b'{"a": "b"}'))])
    assert got["POST c.example/x"] == ("telemetry", "certain")
    assert "sent only with consent (opt-in)" in full["POST c.example/x"].evidence[0]
    assert all(not consent_rules(r) for r in [run("unset"), run("granted", http("c.example", "/x", body=b"{}"))])


def test_an_incomplete_refusal_run_proves_nothing():
    unset = run("unset", http("c.example", "/x", body=b'{"a": "b"}'))
    denied = run("denied", complete=False)
    got, _ = classes([unset, denied])
    assert got["POST c.example/x"] == ("undeclared", "certain")


@pytest.mark.parametrize("exchange, scope, expected", [
    # a collector protocol on an unknown domain
    (http("c.unknown.example", "/com.snowplowanalytics.snowplow/tp2",
          body=b'{"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4", "data": [{"e": "pv"}]}'),
     analysis.Scope(), ("telemetry", "certain")),
    # declared, allowed, functional
    (http("t.example", "/x", body=b"{}"), analysis.Scope(telemetry=("t.example",)), ("telemetry", "certain")),
    (http("u.example", "/latest", "GET"), analysis.Scope(functional=("u.example/latest",)), ("functional", "certain")),
    (http("idx.example", "/simple/x/", "GET"), analysis.Scope(allowed=("idx.example",)), ("functional", "certain")),
    # an identifier to an undeclared destination: data collection (telemetry when the name says so)
    (http("api.example", "/v1/sync", body=b'{"install": "c7e516e11ea94bd6a4c6c0f0e1a9b2d3"}'), analysis.Scope(),
     ("collection", "likely")),
    (http("telemetry.example", "/v1/sync", body=b'{"install": "c7e516e11ea94bd6a4c6c0f0e1a9b2d3"}'), analysis.Scope(),
     ("telemetry", "likely")),
    # a name alone decides nothing
    (http("telemetry.example", "/ping", "GET"), analysis.Scope(), ("undeclared", "certain")),
    (http("api.segment.example", "/v1/config", "GET"), analysis.Scope(), ("undeclared", "certain")),
])
def test_one_variant_classes(exchange, scope, expected):
    got, _ = classes([run("unset", exchange, scope=scope)])
    assert list(got.values()) == [expected]


def test_endpoint_states_its_class_and_evidence():
    unset = run("unset", http("api.tool.example", "/events/metrics", body=EVENT), http("api.tool.example", UPDATE, "GET"))
    judged = analysis.judge([unset, run("denied", http("api.tool.example", UPDATE, "GET"))])
    [ep] = analysis._endpoints([unset], judged.classes, lambda text: text)
    assert (ep.cls, ep.confidence) == ("telemetry", "certain")
    assert [c.cls for c in ep.by_request] == ["telemetry", "undeclared"]
    assert ep.evidence[0].startswith("sent in unset, not in denied")


def test_collectors_registry_is_complete():
    assert {c.name for c in collectors.COLLECTORS} == {
        "snowplow", "segment", "amplitude", "mixpanel", "posthog", "ga4", "sentry", "otlp", "scarf", "appinsights"}


def test_endpoint_evidence_never_prints_an_identity_value(tmp_path):
    from auditor.detect import Matcher
    from auditor.identity import generate
    from auditor.policy import Policy
    from auditor.redaction import Redactor

    ident = generate(3)
    path = f"/v1/users/{ident.username}/events"
    unset = run("unset", http("c.example", path, body=b'{"a": "b"}'))
    audit = analysis.build([unset, run("denied")], [], policy=Policy(), baseline=frozenset(), fail_on="never",
                           capture="proxy", notes=[], problems=[], redactor=Redactor(matchers=[Matcher(ident)]))
    [ep] = audit.endpoints
    text = repr(ep)
    assert ident.username not in text, text
    assert ep.by_request[0].key.startswith("POST c.example/v1/users/") and ep.by_request[0].key.endswith("/events")
