import base64
import gzip
import json

import pytest

from auditor.decode import layers
from auditor.detect import Matcher, dedupe, scan, scan_layer
from auditor.findings import Evidence
from auditor.flowstore import Exchange
from auditor.identity import generate

ID = generate(seed=5)
M = Matcher(ID)


def http(body, headers=(), url="https://t.example/e"):
    return Exchange(id="x", kind="http", host="t.example", url=url, method="POST",
                    request_headers=tuple(headers), request_body=body)


def facts(evs):
    return sorted((e.detector, e.match, e.location, e.layers, e.form) for e in evs)


def test_snowplow_style_nesting_is_reported_once_decoded():
    inner = base64.b64encode(json.dumps({"contact": ID.email}).encode()).decode()
    body = gzip.compress(json.dumps({"data": [{"ue_px": inner}]}).encode())
    evs = scan(http(body, [("Content-Encoding", "gzip"), ("Content-Type", "application/json")]), M)
    # The base64 form seen in the outer JSON is the same fact as the decoded one: reported once.
    assert facts(evs) == [("canary", "email", "body:$.data[0].ue_px.contact",
                           ("gzip", "json", "base64", "json"), "plain")]


def test_same_value_in_two_fields_is_two_evidences():
    body = json.dumps({"a": ID.hostname, "b": {"c": ID.hostname}}).encode()
    assert [e.location for e in scan(http(body), M)] == ["body:$.a", "body:$.b.c"]


def test_canary_wins_over_heuristic_on_the_same_bytes():
    body = json.dumps({"e": ID.email, "gh": ID.github_token, "other": "jane.roe@gmail.com"}).encode()
    assert facts(scan(http(body), M)) == [
        ("canary", "email", "body:$.e", ("json",), "plain"),
        ("canary", "github_token", "body:$.gh", ("json",), "plain"),
        ("heuristic", "email", "body:$.other", ("json",), "plain"),
    ]


def test_without_identity_only_heuristics_run():
    body = json.dumps({"e": ID.email, "h": ID.hostname}).encode()
    assert facts(scan(http(body), None)) == [("heuristic", "email", "body:$.e", ("json",), "plain")]


def test_query_cookie_and_header_locations():
    ex = http(b"", [("Cookie", f"u={ID.username}"), ("X-Machine", ID.machine_id)],
              url=f"https://t.example/p?host={ID.hostname}")
    assert [(e.match, e.location) for e in scan(ex, M)] == [
        ("hostname", "query:host"), ("username", "cookie:u"), ("machine_id", "header:x-machine")]


def test_no_full_value_in_any_evidence():
    body = json.dumps({k: v for k, v in ID.values().items()}).encode()
    evs = scan(http(body), M)
    assert len({e.match for e in evs}) >= 12
    for e in evs:
        assert all(v not in e.excerpt for v in ID.values().values())


def test_dedupe_keeps_distinct_locations_and_drops_encoded_ancestors():
    a = Evidence("canary", "email", "body:$.d", ("json",), "base64", "x***", "D")
    b = Evidence("canary", "email", "body:$.d.contact", ("json", "base64", "json"), "plain", "x***", "D")
    c = Evidence("canary", "email", "body:$.e", ("json",), "plain", "x***", "D")
    assert dedupe([a, b, c, b]) == [b, c]


def test_digest_of_a_normal_form_is_a_digest_for_the_rules():
    assert Evidence("canary", "git_remote", "body", form="sha256:owner/repo").is_digest
    assert Evidence("canary", "email", "body", form="md5:lower").is_digest


def test_one_pass_scan_agrees_with_scanning_layer_by_layer():
    # scan() reads each layer once for decoding and detection together; scan_layer() locates on
    # its own. Both must report the same evidence.
    inner = base64.b64encode(json.dumps({"contact": ID.email, "ip": "81.2.69.160"}).encode()).decode()
    body = gzip.compress(json.dumps({"data": [{"ue_px": inner}], "h": ID.hostname,
                                     "other": "jane.roe@gmail.com", "version": "1.2.3.4"}).encode())
    ex = http(body, [("Content-Encoding", "gzip"), ("Content-Type", "application/json")],
              url=f"https://t.example/p?u={ID.username}&v=81.2.69.161")
    one_pass = scan(ex, M)
    assert len(one_pass) >= 5
    assert one_pass == dedupe([e for layer in layers(ex) for e in scan_layer(layer, M)])


def test_a_detector_without_a_category_cannot_be_registered(monkeypatch):
    import auditor.detect as det

    class Nameless:
        kind = "nameless"
        locators = ()

        def verify(self, data, start, end, which):
            return None

    monkeypatch.setattr(det, "HEURISTICS", det.HEURISTICS + (Nameless(),))
    with pytest.raises(TypeError, match="nameless.*category"):
        det._Locators()


def test_heuristic_evidence_carries_its_detector_category():
    from auditor.detect import scan_layer
    from auditor.decode import Layer

    cats = {(e.match, e.category) for e in scan_layer(Layer(b"mail jane.roe@mail-q.org key AKIAIOSFODNN7ABCDEFG", "body"), None)}
    assert ("email", "personal") in cats and ("aws-access-key", "credential") in cats


def test_context_masks_every_known_value_and_every_encoded_run():
    blob = base64.b64encode(ID.git_remote.encode()).decode()
    body = json.dumps({"user": ID.username, "host": ID.hostname, "mail": "jane.roe@gmail.com",
                       "blob": blob, "event": "cli_init"}).encode()
    by_match = {e.match: e for e in scan(http(body, [("Content-Type", "application/json")]), M)}
    before, after = by_match["username"].context
    shown = before + by_match["username"].excerpt + after
    assert before == '{"user": "' and after.startswith('", "host": "')
    for value in (ID.username, ID.hostname, "jane.roe@gmail.com", blob, ID.git_remote):
        assert value not in shown
    assert "bytes, decoded below⟩" in by_match["hostname"].context[1]  # the base64 run as a placeholder
    assert by_match["hostname"].context[0].startswith('{"user": "') and "***" in by_match["hostname"].context[0]
    # Far from the start of a long payload, the window says it was cut.
    long_body = json.dumps({"pad": "x" * 500, "user": ID.username}).encode()
    [ev] = [e for e in scan(http(long_body), M) if e.match == "username"]
    assert ev.context[0].startswith("…") and len(ev.context[0]) < 80


def test_context_of_a_canary_inside_a_larger_match_shows_no_part_of_it():
    from auditor.detect import context
    data = b'{"t": "eyJhbGciOi.SECRETPART.sig", "n": 1}'
    s, e = data.index(b"SECRETPART"), data.index(b"SECRETPART") + 10
    jwt = (data.index(b"eyJ"), data.index(b'sig"') + 3, "eyJ***")
    before, after = context(data, s, e, [jwt, (s, e, "SEC***")])
    assert "SECRET" not in before + after and "eyJhbG" not in before + after and "sig" not in before + after


def test_context_masks_identifiers_the_program_made_up():
    install_id = "1a784c6c181d462b984113a6473bb169"
    body = json.dumps({"anonymousId": install_id, "user": ID.username, "version": "1.4.2-beta"}).encode()
    [ev] = [e for e in scan(http(body), M) if e.match == "username"]
    shown = "".join(ev.context)
    assert install_id not in shown and "1a78***" in shown and "1.4.2-beta" in shown


def test_context_window_never_cuts_a_token():
    from auditor.detect import CONTEXT
    install_id = "1a784c6c181d462b984113a6473bb169" * 2
    body = ('{"pad": "' + "y" * 10 + '", "anonymousId": "' + install_id + '", "user": "' + ID.username + '"}').encode()
    cut = body.index(ID.username.encode()) - CONTEXT  # lands inside the id
    assert body.index(install_id.encode()) < cut < body.index(install_id.encode()) + len(install_id)
    [ev] = [e for e in scan(http(body), M) if e.match == "username"]
    assert not any(install_id[i:i + 6] in ev.context[0] for i in range(len(install_id) - 5))
