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


def _run_dir(tmp_path, flows, steps, notice_at=None, t0=1000.0):
    import json

    from mitmproxy import io

    d = tmp_path / "runs" / "tool" / "unset"
    d.mkdir(parents=True)
    with open(d / "flows.mitm", "wb") as fo:
        w = io.FlowWriter(fo)
        for f in flows:
            w.add(f)
    manifest = {"schema_version": 1, "scenario": "tool", "run": "unset", "variant": "unset", "identity": {},
                "expect": {"telemetry": ["t.example"], "notice": "(?i)we collect"}, "allow": [],
                "consent": {"denied": False}, "capture": "tun", "coverage": ["tcp", "udp", "dns", "http"],
                "started": t0 - 5, "steps": steps, "exit_codes": [s["exit_code"] for s in steps],
                "complete": True, "problems": [], "notes": []}
    (d / "run.json").write_text(json.dumps(manifest))
    if notice_at is not None:
        (d / "output.jsonl").write_text(json.dumps({"t": t0 + notice_at, "stream": "stdout", "step": "use",
                                                    "text": "We collect usage data"}) + "\n")
    return d


def test_timeline_and_endpoint_counts(tmp_path):
    from mitmproxy.test import tflow

    from auditor import analysis

    t0 = 1000.0

    def http(at, host, method="POST", path="/v1/e?uid=1"):
        f = tflow.tflow(resp=True)
        f.request.host = f.request.headers["host"] = host
        f.request.method, f.request.path = method, path
        f.request.content = b"{}" if method == "POST" else b""
        f.request.timestamp_start = f.client_conn.timestamp_start = t0 + at
        return f

    def lookup(at, host):
        f = tflow.tdnsflow(resp=True)
        f.request.questions[0].name = host
        f.request.timestamp = t0 + at
        return f

    flows = [lookup(0.5, "t.example"), lookup(0.6, "t.example"), http(0.7, "t.example"),
             http(2.5, "t.example", "GET", "/ping"), lookup(3.0, "cdn.example")]
    steps = [{"name": "install", "started": t0, "ended": t0 + 1, "exit_code": 0, "expect_exit": 0, "timed_out": False},
             {"name": "use", "started": t0 + 1, "ended": t0 + 3.5, "exit_code": 2, "expect_exit": 0, "timed_out": False}]
    audit = analysis.analyze_run_dirs([_run_dir(tmp_path, flows, steps, notice_at=2.0)])
    [run] = audit.runs
    assert [(s.name, s.start, s.end, s.ok) for s in run.steps] == [("install", 0.0, 1.0, True), ("use", 1.0, 3.5, False)]
    assert run.notice_at == 2.0 and run.duration == 3.5
    assert [(c.at, c.kind, c.payload, c.label) for c in run.contacts] == [
        (0.5, "dns", False, "A? t.example"), (0.6, "dns", False, "A? t.example"),
        (0.7, "http", True, "POST /v1/e"), (2.5, "http", False, "GET /ping"), (3.0, "dns", False, "A? cdn.example")]
    by_host = {e.host: e for e in audit.endpoints}
    # DNS lookups are no requests: counted apart.
    assert (by_host["t.example"].requests, by_host["t.example"].lookups) == (2, 2)
    assert (by_host["cdn.example"].requests, by_host["cdn.example"].lookups, by_host["cdn.example"].action) == (0, 1, "")
