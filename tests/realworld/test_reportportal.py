"""Real-world audit: the ReportPortal JavaScript client 5.6.0 reporting a launch, twice
(`./dev.sh realworld`).

Observed December 2026 (Node 20, npm 11, full capture): each launch start sends one Google
Analytics 4 measurement-protocol event, `POST https://www.google-analytics.com/mp/collect` with the
vendor's measurement id and API secret in the query and `{"client_id", "events": [{"name":
"start_launch", "params": {interpreter, client and agent name and version}}]}`. The `client_id` is
a UUID kept in the HOME (~/.rp/rp.properties, "client.id"), the same for every launch of a HOME. No
notice. REPORTPORTAL_CLIENT_JS_NO_ANALYTICS is honoured (any value: the code tests presence);
DO_NOT_TRACK=1 is ignored; CI sends. The ReportPortal server itself (.example here) is the
user's own and is answered locally; the client asks it for `/api/info` only when analytics are on
(the scenario declares it functional: that is where the user's reports go).
"""

import re

import pytest

from . import helpers
from .helpers import findings

pytestmark = pytest.mark.realworld

COLLECTOR = "www.google-analytics.com"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "reportportal", "--jobs", "2")


def posts(out, run):
    return helpers.posts(out, run, COLLECTOR)


def test_every_run_completes_and_analytics_never_leave(out):
    helpers.assert_complete(out, {COLLECTOR, "rp.canary.example"})


def test_each_launch_sends_a_ga4_event_without_notice(out):
    sent = posts(out, "unset")
    assert [helpers.step_of(out, "unset", e) for e, _ in sent] == ["launch", "launch-again"]
    for e, body in sent:
        assert e.method == "POST" and e.path.startswith("/mp/collect?measurement_id=")
        assert UUID.match(body["client_id"])
        [event] = body["events"]
        assert event["name"] == "start_launch"
        assert event["params"]["client_version"] == "5.6.0" and event["params"]["agent_name"] == "canary-agent"
    assert not helpers.shown(out, "unset", r"(?i)analytics|telemetry|anonymous")


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if posts(out, run)}
    assert sending == {"unset", "dnt", "ci"}  # the documented variable honoured, DO_NOT_TRACK not
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=False)


def test_client_id_is_kept_in_the_home(out):
    ids = {run: {b["client_id"] for _, b in posts(out, run)} for run in ("unset", "dnt", "ci")}
    assert all(len(v) == 1 for v in ids.values()) and len(set.union(*ids.values())) == 3, ids
    assert any(f["evidence"]["location"] == "body:$.client_id" for f in findings(out, "PRIV-004")), \
        findings(out, "PRIV-004")
    assert not findings(out, "PRIV-003")


def test_the_vendor_api_secret_is_no_leak(out):
    # measurement_id and api_secret in the query are constants shipped in the package, the same in
    # every run: not a credential of the user (no CONF-002) and not a machine fingerprint.
    for rule in ("PRIV-001", "PRIV-002", "PRIV-003", "PRIV-005", "CONF-001", "CONF-002", "CONF-003", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
