"""Reading captures (auditor/flowstore.py): hostile and damaged files cost what they damage only."""

import json
import os

import pytest

from auditor import flowstore
from auditor.errors import UsageError

from .captures import dns_flow, http_flow, torn, write_mitm


def test_a_torn_capture_keeps_every_whole_flow_before_the_tear(tmp_path):
    path = torn(write_mitm(tmp_path / "f.mitm", [http_flow("/a"), http_flow("/b"), http_flow("/c")]))
    problems = []
    got = [ex.path for ex in flowstore.read_mitm(path, problems=problems)]
    assert got == ["/a", "/b"]
    assert len(problems) == 1 and "torn after 2 whole flow(s)" in problems[0]
    with pytest.raises(UsageError, match="not a readable mitmproxy flow file"):
        list(flowstore.read_mitm(path))  # without a problems list, damage is an input error


def test_a_record_nested_past_the_recursion_limit_is_damage_not_a_crash(tmp_path):
    inner = b"0:~"
    for _ in range(5000):
        inner = b"%d:%s]" % (len(inner), inner)
    path = write_mitm(tmp_path / "f.mitm", [http_flow("/a")])
    path.write_bytes(path.read_bytes() + inner)
    problems = []
    assert [ex.path for ex in flowstore.read_mitm(path, problems=problems)] == ["/a"]
    assert "RecursionError" in problems[0]


def test_a_fifo_planted_as_the_capture_does_not_stall(tmp_path):
    os.mkfifo(tmp_path / "flows.mitm")
    problems = []
    assert list(flowstore.read_mitm(tmp_path / "flows.mitm", problems=problems)) == []
    assert "not a regular file" in problems[0]


def test_undecodable_bytes_become_valid_text_at_the_edge(tmp_path):
    f = http_flow(b"/v1/\xff/e?q=\xfe", headers=[("cookie", "a=\udcff")])
    d = dns_flow("a[b\x1b.example")
    path = write_mitm(tmp_path / "f.mitm", [f, d])
    ex, dns = flowstore.read_mitm(path)
    assert ex.path == "/v1/%FF/e?q=%FE" and ex.url.endswith("/v1/%FF/e?q=%FE")
    for text in (ex.url, ex.path, ex.host, dns.host, dns.url):
        text.encode("utf-8")  # no lone surrogate left
    assert ex.header("cookie") == "a=\udcff"  # values stay exact for the decoders


def har(entries):
    return {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}}


ENTRY = {"startedDateTime": "2026-11-30T00:00:00Z", "time": 1,
         "request": {"method": "GET", "url": "https://docs.example/page", "httpVersion": "HTTP/1.1",
                     "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
         "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [],
                      "cookies": [], "content": {"size": 0, "mimeType": "text/html"}, "redirectURL": "",
                      "headersSize": -1, "bodySize": 0},
         "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}


@pytest.mark.parametrize("doc, message", [
    ({"log": {"entries": None}}, "log.entries: expected a list"),
    ({"log": []}, "log.entries: expected a list"),
    ([1], "log.entries: expected a list"),
])
def test_a_har_that_is_not_one_is_an_input_error(tmp_path, doc, message):
    path = tmp_path / "x.har"
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match=message):
        list(flowstore.read_har(path, problems=[]))


def test_a_har_nested_too_deeply_is_an_input_error(tmp_path):
    path = tmp_path / "x.har"
    path.write_text('{"log": {"entries": [' + "[" * 100000 + "]" * 100000 + "]}}")
    with pytest.raises(UsageError, match="nested too deeply"):
        list(flowstore.read_har(path, problems=[]))


def test_a_bad_har_entry_costs_itself_only(tmp_path):
    path = tmp_path / "x.har"
    path.write_text(json.dumps(har([None, {"request": 5}, ENTRY])))
    problems = []
    assert [ex.host for ex in flowstore.read_har(path, problems=problems)] == ["docs.example"]
    assert [p.split(": ", 2)[1] for p in problems] == ["log.entries[0]", "log.entries[1]"]
