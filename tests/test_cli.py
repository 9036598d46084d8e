"""The command line: exit codes and messages a user can act on (no tracebacks)."""

import json
import subprocess
import sys

import pytest
import yaml
from mitmproxy import io
from mitmproxy.test import tflow

from auditor import scenario

CLI = [sys.executable, "-m", "auditor"]


def cli(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("text, where", [
    ("schema_version: 1\nname: x\nsteps:\n  - run: a\n    bogus: 1\n", ":5: steps[0].bogus: unknown key"),
    ("schema_version: 1\nname: x\nsteps:\n  - run: a\n    timeout: soon\n", ":5: steps[0].timeout: expected a number"),
    ("schema_version: 1\nname: x\n", ":1: steps: required key is missing"),
    ("schema_version: 1\nname: x\nsteps: [\n", ":4: YAML syntax error"),
])
def test_bad_scenario_exits_2_naming_file_line_key(tmp_path, text, where):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    r = cli("run", p, "--capture", "proxy")
    assert r.returncode == 2
    assert f"{p}{where}" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--fail-on", "severe"], "--fail-on severe"),
    (["--format", "pdf"], "--format pdf"),
    (["--variants", "sometimes"], "--variants sometimes"),
    (["--capture", "magic"], "--capture magic"),
    (["--shard", "3/2"], "--shard 3/2"),
])
def test_bad_options_exit_2(tmp_path, args, message):
    p = tmp_path / "ok.yaml"
    p.write_text("schema_version: 1\nname: ok\nsteps: [{run: 'true'}]\n")
    r = cli("run", p, *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_missing_input_exits_2(tmp_path):
    r = cli("analyze", tmp_path / "nope.mitm")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_init_scaffolds_a_valid_scenario(tmp_path):
    r = cli("init", "my-tool", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sc = scenario.load(tmp_path / "my-tool.yaml")
    assert sc.name == "my-tool" and sc.denied is not None
    assert cli("init", "my-tool", cwd=tmp_path).returncode == 2


def _flow_file(path, body: bytes, host="t.example", scheme="https"):
    f = tflow.tflow(resp=True)
    f.request.host = f.request.headers["host"] = host
    f.request.scheme = scheme
    f.request.port = 443 if scheme == "https" else 80
    f.request.method = "POST"
    f.request.path = "/v1/events"
    f.request.content = body
    with open(path, "wb") as fo:
        io.FlowWriter(fo).add(f)


def test_analyze_mitm_file_with_identity(tmp_path):
    flows = tmp_path / "capture.mitm"
    _flow_file(flows, json.dumps({"event": "run", "user": "zelda-qx81"}).encode())
    ident = tmp_path / "me.yaml"
    ident.write_text(yaml.safe_dump({"username": "zelda-qx81"}))
    out = tmp_path / "out"
    r = cli("analyze", flows, "--identity", ident, "--out", out, "--fail-on", "critical")
    assert r.returncode == 1, r.stderr
    findings = json.loads((out / "findings.json").read_text())["findings"]
    hit = next(f for f in findings if f["rule"] == "PRIV-001")
    assert hit["evidence"]["location"] == "body:$.user" and hit["evidence"]["match"] == "username"
    assert "zelda-qx81" not in (out / "findings.json").read_text()


def test_analyze_har_clean_exits_0(tmp_path):
    har = tmp_path / "browser.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [{
        "startedDateTime": "2026-11-30T00:00:00Z", "time": 1,
        "request": {"method": "GET", "url": "https://docs.example/page", "httpVersion": "HTTP/1.1",
                    "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [],
                     "cookies": [], "content": {"size": 0, "mimeType": "text/html"}, "redirectURL": "",
                     "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}]}}))
    r = cli("analyze", har, "--fail-on", "high")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["findings"] == [] or all(
        f["severity"] in ("info", "low", "medium") for f in json.loads(r.stdout)["findings"])


def test_analyze_rejects_garbage(tmp_path):
    junk = tmp_path / "junk.har"
    junk.write_text("{not json")
    r = cli("analyze", junk)
    assert r.returncode == 2 and "not a readable HAR" in r.stderr


def test_doctor_reports_capture_choice():
    r = cli("doctor")
    assert "capture auto" in r.stdout and "mitmdump" in r.stdout
