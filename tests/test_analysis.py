"""The analysis of run directories on disk (no capture needed)."""

import json

import pytest

from auditor.analysis import NOTICE_PATTERNS, sends_identifiers


def _run_dir(tmp_path, flows, allow=()):
    from mitmproxy import io
    from mitmproxy.test import tflow

    d = tmp_path / "run"
    d.mkdir()
    (d / "run.json").write_text(json.dumps({"scenario": "s", "run": "unset", "variant": "unset",
                                            "allow": list(allow), "expect": {}}))
    with open(d / "flows.mitm", "wb") as fo:
        w = io.FlowWriter(fo)
        for host, body in flows:
            f = tflow.tflow(resp=True)
            f.request.host = host
            f.request.method = "POST"
            f.request.path = "/v1/e"
            f.request.content = body
            w.add(f)
    return d


@pytest.mark.parametrize("flows, allow, sends", [
    ([("t.example", b'{"install_id": "c7e516e11ea94bd6a4c6c0f0e1a9b2d3"}')], (), True),
    ([("t.example", b'{"version": "1.2.3"}')], (), False),
    ([("idx.example", b'{"install_id": "c7e516e11ea94bd6a4c6c0f0e1a9b2d3"}')], ("idx.example",), False),
])
def test_twins_are_wanted_only_when_an_identifier_went_somewhere_undeclared(tmp_path, flows, allow, sends):
    assert sends_identifiers(_run_dir(tmp_path, flows, allow)) is sends


@pytest.mark.parametrize("line, notice", [
    ("demo-tool collects anonymous usage statistics. Disable with: demo-tool telemetry disable", True),
    ("Astro collects completely anonymous usage data.", True),
    ("Attention: Turborepo now collects completely anonymous telemetry regarding usage.", True),
    ("Telemetry is enabled. To opt out, set TOOL_TELEMETRY=0", True),
    ("We send anonymous crash reports to help fix bugs", True),
    ("Set DO_NOT_TRACK=1 to disable", True),
    ("Usage data helps us improve; run `tool analytics off`", True),
    # negative rows: the word alone is no sentence a user would read as a notice
    ('  "azure-cli-telemetry": "1.1.0",', False),
    ("  --no-telemetry        (flag)", False),
    ("npm notice New minor version of npm available!", False),
    ("Collecting idna==3.7", False),
    ("Collecting analytics-python==1.4.0 (from tool)", False),  # pip installing a package so named
    ("analytics.py compiled", False),
])
def test_built_in_notice_patterns(line, notice):
    assert bool(NOTICE_PATTERNS.search(line)) is notice


def _timeline_run_dir(tmp_path, flows, steps, notice_at=None, t0=1000.0):
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
    audit = analysis.analyze_run_dirs([_timeline_run_dir(tmp_path, flows, steps, notice_at=2.0)])
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
