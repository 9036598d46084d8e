"""The same program that ignores proxy variables, audited both ways: proxy mode can only report the
bypass (SEC-006, partial coverage), tun mode shows what was sent.

The proxy-mode audit runs in a network namespace of its own with nothing but loopback, so the
program's direct attempt fails at once instead of leaving the machine.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor import flowstore
from auditor.sandbox import tun, witness

from .conftest import CLI, REPO

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(tun.unavailable() is not None,
                                 reason=f"full capture unavailable here: {tun.unavailable()}"),
              pytest.mark.skipif(witness.unavailable() is not None,
                                 reason=f"no syscall witness here: {witness.unavailable()}")]
HOSTILE = Path(__file__).resolve().parents[1] / "sandbox" / "hostile.py"
# A fresh network namespace with only loopback: mitmproxy's port works, nothing else routes.
OFFLINE = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "offline"]


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    d = tmp_path_factory.mktemp("bypass")
    shutil.copy(HOSTILE, d / "hostile.py")
    sc = d / "direct.yaml"
    sc.write_text(f"""\
schema_version: 1
name: direct
steps:
  - name: direct
    run: '"{sys.executable}" "$SCENARIO_DIR/hostile.py" direct'
""")
    results = {}
    for mode, prefix in (("proxy", OFFLINE), ("tun", [])):
        out = d / mode
        r = subprocess.run([*prefix, *CLI, "run", str(sc), "--capture", mode, "--variants", "unset", "--out",
                            str(out), "--format", "json", "--fail-on", "never", "--seed", "3"],
                           cwd=REPO, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "EGRESS_AUDIT_LINGER": "0.5"})
        assert r.returncode == 0, r.stderr
        run_dir = out / "runs" / "direct" / "unset"
        results[mode] = {"findings": json.loads((out / "findings.json").read_text()), "dir": run_dir,
                         "exchanges": list(flowstore.read_mitm(run_dir / "flows.mitm"))}
    return results


def coverage_note(result) -> str:
    [variant] = result["findings"]["scenarios"][0]["variants"]
    return variant["coverage_note"]


def test_proxy_mode_reports_the_bypass_and_partial_coverage(audits):
    proxy = audits["proxy"]
    assert proxy["findings"]["capture"] == "proxy"
    bypass = [f for f in proxy["findings"]["findings"] if f["rule"] == "SEC-006"]
    assert "198.51.100.7" in {f["host"] for f in bypass}
    assert all(f["severity"] == "high" and "bypassing the proxy" in f["detail"] for f in bypass)
    assert coverage_note(proxy).startswith("partial capture")
    assert (proxy["dir"] / witness.LOG_NAME).is_file()
    # the content is exactly what proxy mode cannot see
    assert not any(b"DIRECT-CANARY" in ex.request_body + b"".join(m.content for m in ex.messages)
                   for ex in proxy["exchanges"])


def test_tun_mode_shows_the_content(audits):
    full = audits["tun"]
    assert full["findings"]["capture"] == "tun"
    assert not [f for f in full["findings"]["findings"] if f["rule"] == "SEC-006"]
    assert coverage_note(full).startswith("full capture")
    [ex] = [ex for ex in full["exchanges"] if ex.host == "direct.example" and ex.kind == "tcp"]
    assert any(m.content.startswith(b"DIRECT-CANARY user=") for m in ex.messages if m.from_client)
    assert ex.tls and ex.action == "sinkhole"
