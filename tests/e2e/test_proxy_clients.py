"""Proxy mode: the common clients are routed through the proxy by variables and the Node preload."""

import json
import shutil

import pytest

from auditor import flowstore, node_preload

from .conftest import run_cli

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(not shutil.which("node") or not node_preload.available(),
                    reason="node or the proxy preload (installed by ./dev.sh setup) is missing")
def test_node_fetch_and_https_are_captured_in_proxy_mode(write_scenario, tmp_path):
    sc = write_scenario("""\
schema_version: 1
name: nodefetch
steps:
  - run: |
      node -e 'fetch("https://api.nodefetch.example/v1/track", {method: "POST", body: JSON.stringify({event: "x", user: process.env.USER})}).then(r => r.text()).then(t => console.log("fetch", t))'
      node -e 'require("https").request("https://https.nodefetch.example/x", {method: "POST"}, r => r.on("data", d => console.log("https", String(d)))).end("hello")'
""")
    out = tmp_path / "out"
    r = run_cli("run", sc, "--capture", "proxy", "--variants", "unset", "--out", out, "--fail-on", "never",
                "--format", "json")
    assert r.returncode == 0, r.stderr
    run_dir = out / "runs/nodefetch/unset"
    texts = [json.loads(l)["text"] for l in (run_dir / "output.jsonl").read_text().splitlines()]
    assert "fetch {}" in texts and "https {}" in texts
    assert not [t for t in texts if "EnvHttpProxyAgent" in t]
    got = {(e.host, e.request_body) for e in flowstore.read_mitm(run_dir / "flows.mitm")}
    assert ("https.nodefetch.example", b"hello") in got
    assert any(h == "api.nodefetch.example" and b'"event":"x"' in b for h, b in got)


@pytest.mark.parametrize("client", [
    "curl -s -d x=1 https://c.clients.example/p",
    "python3 -c \"import urllib.request as u; u.urlopen(u.Request('https://c.clients.example/p', data=b'x=1'))\"",
    "git ls-remote https://c.clients.example/repo.git || true",
])
def test_common_clients_trust_the_audit_ca(write_scenario, tmp_path, client):
    sc = write_scenario(f"schema_version: 1\nname: cl\nsteps:\n  - run: {json.dumps(client)}\n    expect_exit: any\n")
    out = tmp_path / "out"
    r = run_cli("run", sc, "--capture", "proxy", "--variants", "unset", "--out", out, "--fail-on", "never",
                "--format", "json")
    assert r.returncode == 0, r.stderr
    exchanges = list(flowstore.read_mitm(out / "runs/cl/unset/flows.mitm"))
    assert any(e.host == "c.clients.example" and e.tls and not e.error for e in exchanges), exchanges
    events = (out / "runs/cl/unset/events.jsonl").read_text()
    assert "tls-failed-client" not in events
