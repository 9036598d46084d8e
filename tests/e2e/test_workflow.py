"""Shards, merge, baseline, re-render: the CI workflow on real captures."""

import json

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.e2e

SCENARIO = """\
schema_version: 1
name: wf
steps:
  - run: curl -s -d "user=$USER" https://telemetry.wf.example/v1/events; echo
consent:
  denied: {env: {WF_TELEMETRY: "0"}}
variants: [unset, denied, dnt]
"""


def test_shards_merge_baseline_report(write_scenario, tmp_path):
    sc = write_scenario(SCENARIO)
    a, b, merged = tmp_path / "a", tmp_path / "b", tmp_path / "merged"
    for out, shard in ((a, "1/2"), (b, "2/2")):
        r = run_cli("run", sc, "--capture", "proxy", "--shard", shard, "--out", out, "--seed", "3",
                    "--fail-on", "never", "--format", "json")
        assert r.returncode == 0, r.stderr
    runs_a = {p.name for p in (a / "runs/wf").iterdir()}
    runs_b = {p.name for p in (b / "runs/wf").iterdir()}
    assert runs_a | runs_b == {"unset", "denied", "dnt"} and not runs_a & runs_b
    r = run_cli("merge", a, b, "--out", merged)
    assert r.returncode == 1, r.stderr  # the denied run sends telemetry: CONSENT-001 is critical
    findings = json.loads((merged / "findings.json").read_text())
    rules = {(f["rule"], f["variant"]) for f in findings["findings"]}
    assert {("CONSENT-001", "denied"), ("CONSENT-002", "dnt"), ("PRIV-001", "unset")} <= rules
    assert (merged / "report.html").exists()
    # Accept today's findings: the re-rendered audit then passes.
    r = run_cli("baseline", merged, "-o", tmp_path / "baseline.json")
    assert r.returncode == 0, r.stderr
    r = run_cli("report", merged, "--baseline", tmp_path / "baseline.json")
    assert r.returncode == 0, r.stderr
    again = json.loads((merged / "findings.json").read_text())
    assert again["findings"] and all(f["baselined"] for f in again["findings"])
    r = run_cli("allowlist", merged)
    assert r.stdout.split() == ["telemetry.wf.example"]
    assert run_cli("merge", a, a, "--out", tmp_path / "dup").returncode == 2
