"""Real-world audit: Next.js 16.4.6 building a one-page site twice (`./dev.sh realworld`).

Observed December 2026 (Node 20, npm 11, full capture): every `next build` sends about eight
`POST https://telemetry.nextjs.org/api/v1/record` (NEXT_CLI_SESSION_STARTED, NEXT_PACKAGE_DETECTED,
NEXT_BUILD_COMPLETED, NEXT_BUILD_FEATURE_USAGE, ...), after the one-line notice "Attention: Next.js
now collects completely anonymous telemetry regarding usage." — also under CI. The context carries
`anonymousId` (64 hex, kept in the HOME: ~/.config/nextjs-nodejs/config.json), a salted
`projectId` and a `sessionId` per command; `meta` has the kernel release, CPU model, memory,
isDocker and the CI name. NEXT_TELEMETRY_DISABLED=1 is honoured (no lookup at all), DO_NOT_TRACK=1
is ignored.
"""

import re

import pytest

from . import helpers
from .helpers import findings, manifest, output, shown

pytestmark = pytest.mark.realworld

COLLECTOR = "telemetry.nextjs.org"
NOTICE = r"Next\.js now collects completely anonymous telemetry"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "nextjs", "--jobs", "2")


def posts(out, run):
    return helpers.posts(out, run, COLLECTOR)


def test_every_run_completes_and_telemetry_never_leaves(out):
    helpers.assert_complete(out, {COLLECTOR})
    assert helpers.endpoints(out)[COLLECTOR]["class"] == "telemetry"


def test_each_build_reports_after_the_notice(out):
    sent = posts(out, "unset")
    assert {helpers.step_of(out, "unset", e) for e, _ in sent} == {"build", "build-again"}
    events = set()
    for e, body in sent:
        assert e.method == "POST" and e.path == "/api/v1/record"
        assert HEX64.match(body["context"]["anonymousId"])
        assert body["meta"]["nextVersion"] == "16.4.6" and body["meta"]["isCI"] is False
        events |= {ev["eventName"] for ev in body["events"]}
    assert {"NEXT_CLI_SESSION_STARTED", "NEXT_BUILD_COMPLETED"} <= events
    notice = shown(out, "unset", NOTICE)
    assert notice and notice[0] < sent[0][0].timestamp, "the notice comes first"
    status = [o["text"] for o in output(out, "unset") if o["step"] == "telemetry-status"]
    assert "Status: Enabled" in status


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if posts(out, run)}
    assert sending == {"unset", "dnt", "ci"}  # NEXT_TELEMETRY_DISABLED honoured, DO_NOT_TRACK not
    assert not [e for e in helpers.exchanges(out, "denied") if e.host == COLLECTOR]  # not even looked up
    assert "Status: Disabled" in [o["text"] for o in output(out, "denied") if o["step"] == "telemetry-status"]
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=True)


def test_ci_sends_with_the_ci_name(out):
    for _, body in posts(out, "ci"):
        assert body["meta"]["isCI"] is True and body["meta"]["ciName"] == "GitHub Actions"
    assert shown(out, "ci", NOTICE)  # the notice is printed under CI too


def test_anonymous_id_is_kept_in_the_home_session_id_is_not(out):
    ids = {run: {b["context"]["anonymousId"] for _, b in posts(out, run)} for run in ("unset", "dnt", "ci")}
    assert all(len(v) == 1 for v in ids.values()) and len(set.union(*ids.values())) == 3, ids
    sessions = {helpers.step_of(out, "unset", e): b["context"]["sessionId"] for e, b in posts(out, "unset")}
    assert sessions["build"] != sessions["build-again"]  # one per command
    locations = {f["evidence"]["location"] for f in findings(out, "PRIV-004")}
    assert "body:$.context.anonymousId" in locations, locations
    assert "body:$.context.sessionId" not in locations
    assert not findings(out, "PRIV-003")  # platform facts are shared by every machine of this kind


def test_nothing_identifying_in_the_clear(out):
    # projectId is salted with a value kept in the HOME: no dictionary reverses it (no CONF-003).
    for rule in ("PRIV-001", "PRIV-002", "PRIV-005", "CONF-001", "CONF-002", "CONF-003", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
    assert not [f for f in findings(out, "SEC-004") if f["confidence"] != "possible"], findings(out, "SEC-004")
    assert manifest(out, "unset")["capture"] == "tun"
