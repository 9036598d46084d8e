"""Verdicts on purpose-built programs, through real audits (real mitmproxy, real sandboxes).

Every program here behaves in a known way (tests/e2e/programs): the tests assert the rules that
behaviour must produce and the rules it must not, host by host.
"""

import json
import shutil
from pathlib import Path

import pytest

from auditor import flowstore
from auditor.sandbox import select_mode

from .conftest import REPO, run_cli

pytestmark = pytest.mark.e2e
PROGRAMS = REPO / "tests" / "e2e" / "programs"
FULL = select_mode("auto")[0] == "tun"  # the machine's own values can be planted (machine twin)

SP, SAME, IDS, FP, PROJ = ("collector.sp-unknown.example", "api.samehost.example", "ids.store-home.example",
                           "fp.machine-fp.example", "proj.attrib.example")


def audit(tmp_path_factory, name: str, *scenarios: str, variants: str = "") -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp(name)
    # Beside the scenario, as a user keeps them: the sandbox shows the scenario's folder, not the
    # checkout (hidden when it lives in /tmp or under HOME).
    shutil.copytree(PROGRAMS, base / "programs")
    paths = []
    for i, text in enumerate(scenarios):
        p = base / f"scenario-{i}.yaml"
        p.write_text(text.replace("{PROGRAMS}", "$SCENARIO_DIR/programs"))
        paths.append(p)
    out = base / "out"
    args = ["run", *paths, "--out", out, "--fail-on", "never", "--format", "json,md,html", "--seed", "7"]
    r = run_cli(*args, *(["--variants", variants] if variants else []), timeout=1500)
    assert r.returncode == 0, r.stderr
    return out, json.loads((out / "findings.json").read_text())


def found(doc, scenario=None):
    """(rule, variant, host, evidence location) of every finding (a finding over several variants
    counts for each)."""
    out = set()
    for f in doc["findings"]:
        if scenario and f["scenario"] != scenario:
            continue
        for v in f.get("variants") or [f["variant"]]:
            out.add((f["rule"], v, f["host"], (f["evidence"] or {}).get("location", "")))
    return out


def rules_for(doc, host, variant=None, scenario=None):
    return {r for r, v, h, _ in found(doc, scenario) if h == host and (variant is None or v == variant)}


def detail(doc, rule, host):
    return [f["detail"] for f in doc["findings"] if f["rule"] == rule and f["host"] == host]


def endpoint(doc, host):
    return next(e for e in doc["endpoints"] if e["host"] == host)


MATRIX = """\
schema_version: 1
name: verdict-tool
steps:
  - name: install
    run: mkdir -p "$HOME/.local/bin" && cp "{PROGRAMS}/verdict_tool.py" "$HOME/.local/bin/verdict-tool"
  - name: first
    run: python3 "$HOME/.local/bin/verdict-tool" init
  - name: second
    run: python3 "$HOME/.local/bin/verdict-tool" build
consent:
  denied: {env: {VT_TELEMETRY: "0"}}
variants: [unset, denied, dnt, ci]
twins: always
"""


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    return audit(tmp_path_factory, "matrix", MATRIX)


def test_snowplow_on_an_unknown_domain_is_telemetry(matrix):
    _, doc = matrix
    ep = endpoint(doc, SP)
    assert (ep["class"], ep["confidence"]) == ("telemetry", "certain")
    assert any("Snowplow tracker protocol" in e for e in ep["evidence"])
    assert {"CONSENT-003", "CONSENT-004"} <= rules_for(doc, SP, "unset")
    assert "CONSENT-002" in rules_for(doc, SP, "dnt") and "CONSENT-005" in rules_for(doc, SP, "ci")
    assert not rules_for(doc, SP, "denied"), "it honours its opt-out"


def test_a_collector_and_an_update_check_on_one_host(matrix):
    """Only the collector honours the opt-out; the update check goes out in every variant."""
    _, doc = matrix
    by_request = {r["request"]: r for r in endpoint(doc, SAME)["by_request"]}
    sync, latest = by_request[f"POST {SAME}/v2/sync"], by_request[f"GET {SAME}/v2/latest"]
    assert sync["class"] == "telemetry" and any("gated by consent" in e for e in sync["evidence"])
    assert latest["class"] == "undeclared"
    assert any("the same request in every variant" in e for e in latest["evidence"])
    assert "CONSENT-002" in rules_for(doc, SAME, "dnt") and "CONSENT-003" in rules_for(doc, SAME, "unset")
    assert not rules_for(doc, SAME, "denied") & {"CONSENT-001", "SEC-005"}, "the update check is no refusal broken"


def test_an_id_stored_under_home_and_sent_by_two_steps(matrix):
    _, doc = matrix
    assert ("PRIV-004", "unset", IDS, "body:$.install") in found(doc)
    [why] = detail(doc, "PRIV-004", IDS)
    assert "~/.config/verdict-tool/install_id" in why and "two invocations" in why
    assert "PRIV-003" not in rules_for(doc, IDS)


def test_a_fingerprint_from_three_variants_without_repeat(matrix):
    _, doc = matrix
    [f] = [f for f in doc["findings"] if f["rule"] == "PRIV-003" and f["host"] == FP]
    assert f["evidence"]["location"] == "body:$.fp" and "identical in" in f["detail"]
    if FULL:  # the machine twin really changed the machine: attributed
        assert f["confidence"] == "certain" and "machine fingerprint" in f["detail"]
    else:
        assert f["confidence"] == "likely" and "could not change the machine" in f["detail"]
    assert "PRIV-004" not in rules_for(doc, FP)


def test_a_salted_project_hash_and_a_constant_api_key(matrix):
    _, doc = matrix
    assert ("CONF-003", "unset", PROJ, "body:$.project") in found(doc)
    [why] = detail(doc, "CONF-003", PROJ)
    assert "project fingerprint" in why
    header = {(r, loc) for r, _, h, loc in found(doc) if h == PROJ and loc == "header:x-api-key"}
    assert not header, "a key shipped in the program is no identifier of anyone"
    ep = endpoint(doc, PROJ)
    assert any("header:x-api-key: constant shipped in the program" in e
               for r in ep["by_request"] for e in r["evidence"])
    assert "CONSENT-001" in rules_for(doc, PROJ, "denied"), "it collects a project id after refusal"


def test_twins_ran_and_are_no_variant_of_their_own(matrix):
    out, doc = matrix
    runs = {v["name"] for s in doc["scenarios"] for v in s["variants"]}
    assert {"unset-twin-machine", "unset-twin-user", "unset-twin-project"} <= runs
    assert not [f for f in doc["findings"] if "twin" in f["variant"]]
    stored = json.loads((out / "runs/verdict-tool/unset/home-files.json").read_text())
    assert any(f["path"] == ".config/verdict-tool/install_id" and "text" in f for f in stored["files"])


FUNCTIONAL = """\
schema_version: 1
name: updater
steps:
  - run: python3 "{PROGRAMS}/updater.py"
consent:
  denied: {env: {UPDATER_TELEMETRY: "0"}}
variants: [unset, denied, dnt, ci]
expect:
  functional: [updates.functional-only.example, cdn.functional-only.example/manifest.json]
"""
UNDECLARED = FUNCTIONAL.replace("name: updater", "name: updater-undeclared").split("expect:")[0]


@pytest.fixture(scope="module")
def functional(tmp_path_factory):
    return audit(tmp_path_factory, "functional", FUNCTIONAL, UNDECLARED)


def test_declared_functional_requests_make_no_finding(functional):
    out, doc = functional
    assert not [f for f in doc["findings"] if f["scenario"] == "updater"]
    classes = {(r["request"], r["class"]) for e in doc["endpoints"] for r in e["by_request"]
               if r["scenario"] == "updater" and r["request"].startswith("GET")}
    assert classes == {("GET updates.functional-only.example/v1/latest", "functional"),
                       ("GET cdn.functional-only.example/manifest.json", "functional")}
    assert not (out / "runs/updater/unset-twin-user").exists(), "nothing to attribute: no twins"


def test_the_same_request_everywhere_without_identifiers_is_only_egress(functional):
    _, doc = functional
    rules = {r for r, *_ in found(doc, "updater-undeclared")}
    assert rules == {"EGRESS-001"}, "a per-request id is no tracker, an update check no consent violation"


NPM = """\
schema_version: 1
name: hooked
files:
  package.json: '{"name": "hooked-consumer", "version": "1.0.0", "private": true}'
steps:
  - name: install
    run: >-
      cp -r "{PROGRAMS}/hooked" ./hooked &&
      npm install --offline --no-audit --no-fund --no-update-notifier ./hooked
    timeout: 300
consent:
  denied: {env: {HOOKED_TELEMETRY: "0"}}
variants: [unset, denied]
expect:
  telemetry: ["*.hook-metrics.example"]
twins: never
"""


@pytest.fixture(scope="module")
def npm(tmp_path_factory):
    return audit(tmp_path_factory, "npm", NPM)


def test_an_apex_domain_install_hook_is_telemetry(npm):
    _, doc = npm
    ep = endpoint(doc, "hook-metrics.example")
    assert ep["class"] == "telemetry" and any("gated by consent" in e for e in ep["evidence"])
    assert {"CONSENT-003", "CONF-003", "EGRESS-001"} <= rules_for(doc, "hook-metrics.example")
    assert not rules_for(doc, "hook-metrics.example", "denied")


def test_a_notice_the_package_manager_hides_is_no_notice(npm):
    out, doc = npm
    printed = [json.loads(l)["text"] for l in (out / "runs/hooked/unset/output.jsonl").read_text().splitlines()]
    assert not [t for t in printed if "collects anonymous usage" in t], "npm showed the hook's output"
    sent = [e for e in flowstore.read_mitm(out / "runs/hooked/unset/flows.mitm") if e.host == "hook-metrics.example"]
    assert sent, "the hook ran and posted"
    assert any("no notice was printed" in d for d in detail(doc, "CONSENT-004", "hook-metrics.example"))
