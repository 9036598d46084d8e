"""Real-world audit: pip against the configured index (`./dev.sh realworld`, not the default suite)."""

import json
from pathlib import Path

import pytest

from auditor import flowstore

from ..e2e.consent_gaps import consent_gaps
from ..e2e.conftest import REPO, run_cli

pytestmark = pytest.mark.realworld


def test_pip_download_is_forwarded_and_its_metadata_observed(tmp_path):
    out = tmp_path / "out"
    r = run_cli("run", REPO / "scenarios/realworld/pip-idna.yaml", "--variants", "unset,ci", "--out", out,
                "--fail-on", "critical", timeout=900)
    assert r.returncode == 0, r.stderr
    uas = {}
    for run in ("unset", "ci"):
        manifest = json.loads((out / "runs/pip-idna" / run / "run.json").read_text())
        assert manifest["exit_codes"] == [0]
        exchanges = list(flowstore.read_mitm(out / "runs/pip-idna" / run / "flows.mitm"))
        assert exchanges and all(e.action == "forward" and e.response_status == 200 for e in exchanges
                                 if e.kind == "http")
        uas[run] = {e.header("user-agent") for e in exchanges if e.kind == "http"}
    # pip reports CI detection in its User-Agent on every index request (observed, no opt-out).
    assert any('"ci":true' in ua for ua in uas["ci"]) and not any('"ci":true' in ua for ua in uas["unset"])
    assert consent_gaps(out) == []  # issue 7's invariant (nothing but the allowed index here)
    endpoints = json.loads((out / "findings.json").read_text())["endpoints"]
    assert endpoints and all(e["class"] == "functional" for e in endpoints)
