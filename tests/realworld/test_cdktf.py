"""Real-world audit: CDK for Terraform 0.21.0 synthesising a one-stack JavaScript app twice
(`./dev.sh realworld`).

Observed December 2026 (Node 20, npm 11, full capture): every `cdktf synth` sends
`POST https://checkpoint-api.hashicorp.com/v1/telemetry/cdktf` (command, language, timings, stack
metadata, a `runID` per command) with `userId`, a UUID kept in ~/.cdktf/config.json, and
`projectId`, a UUID that cdktf writes into the project's own cdktf.json; the first also asks
`GET /v1/check/terraform?...&signature=<uuid>` for the latest Terraform version. No notice.
CHECKPOINT_DISABLE=1 is honoured (not even a lookup); DO_NOT_TRACK=1 is ignored; CI sends, with
the CI's name in place of the user id. cdktf finds its home through the passwd
entry (os.userInfo().homedir), not $HOME: without an isolated sandbox it writes the real user's
~/.cdktf, so the scenario points CDKTF_HOME at the run's HOME.
"""

import json
import re

import pytest

from . import helpers
from .helpers import findings

pytestmark = pytest.mark.realworld

COLLECTOR = "checkpoint-api.hashicorp.com"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "cdktf", "--jobs", "2")


def reports(out, run):
    """The telemetry reports of a run (not the version checks), with their JSON bodies."""
    return [(e, json.loads(e.request_body)) for e in helpers.requests(out, run, COLLECTOR)
            if e.path == "/v1/telemetry/cdktf"]


def test_every_run_completes_and_telemetry_never_leaves(out):
    helpers.assert_complete(out, {COLLECTOR})


def test_every_synth_reports_without_notice(out):
    sent = reports(out, "unset")
    assert [helpers.step_of(out, "unset", e) for e, _ in sent] == ["synth", "synth-again"]
    for e, body in sent:
        assert e.method == "POST" and body["command"] == "synth" and body["version"] == "0.21.0"
        assert UUID.match(body["userId"]) and UUID.match(body["projectId"])
    assert len({b["runID"] for _, b in sent}) == 2  # one per command
    checks = [e for e in helpers.requests(out, "unset", COLLECTOR) if e.path.startswith("/v1/check/terraform?")]
    assert checks and "signature=" in checks[0].path
    assert not [t for t in helpers.shown(out, "unset", r"(?i)telemetry|checkpoint") if t < sent[0][0].timestamp]


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if reports(out, run)}
    assert sending == {"unset", "dnt", "ci"}  # CHECKPOINT_DISABLE honoured, DO_NOT_TRACK not
    assert not [e for e in helpers.exchanges(out, "denied") if e.host == COLLECTOR]  # not even looked up
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=False)


def test_ci_reports_the_ci_name_instead_of_the_user_id(out):
    sent = reports(out, "ci")
    assert sent and all(b["ci"] == "GitHub Actions" and "userId" not in b for _, b in sent)


def test_user_and_project_ids_are_kept(out):
    ids = {run: {(b["userId"], b["projectId"]) for _, b in reports(out, run)} for run in ("unset", "dnt")}
    assert all(len(v) == 1 for v in ids.values()) and ids["unset"] != ids["dnt"], ids
    locations = {f["evidence"]["location"] for f in findings(out, "PRIV-004")}
    assert "body:$.userId" in locations, locations
    assert "body:$.runID" not in locations
    assert not findings(out, "PRIV-003")


def test_nothing_identifying_in_the_clear(out):
    for rule in ("PRIV-001", "PRIV-002", "PRIV-005", "CONF-001", "CONF-002", "CONF-003", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
