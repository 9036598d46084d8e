"""Real-world audit: pytest-reportportal 5.6.13 (reportportal-client 5.7) reporting a test run to a
ReportPortal server, twice (`./dev.sh realworld`).

Observed December 2026 (Python 3.11 venv, full capture): each launch start sends one Google
Analytics 4 measurement-protocol event, `POST https://www.google-analytics.com/mp/collect` with the
vendor's measurement id and API secret in the query and `{"client_id", "events": [{"name":
"start_launch", "params": {client, interpreter and agent name and version}}]}` — the Python twin
of the JavaScript client's. `client_id` is a UUID kept in the HOME (~/.rp/rp.properties), the same
for every run of a HOME. No notice. AGENT_NO_ANALYTICS=1 is honoured; DO_NOT_TRACK=1 is ignored;
CI sends. The ReportPortal server itself (.example here) is the user's own, answered locally.
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
    return helpers.audit(tmp_path_factory, "pytest-reportportal", "--jobs", "2")


def posts(out, run):
    return helpers.posts(out, run, COLLECTOR)


def test_every_run_completes_and_analytics_never_leave(out):
    helpers.assert_complete(out, {COLLECTOR, "rp.canary.example"})
    for run in helpers.VARIANTS:
        assert sum("2 passed" in o["text"] for o in helpers.output(out, run)) == 2, run


def test_each_test_run_sends_a_ga4_event_without_notice(out):
    sent = posts(out, "unset")
    assert [helpers.step_of(out, "unset", e) for e, _ in sent] == ["test", "test-again"]
    for e, body in sent:
        assert e.method == "POST" and e.path.startswith("/mp/collect?measurement_id=")
        assert UUID.match(body["client_id"])
        [event] = body["events"]
        assert event["name"] == "start_launch" and event["params"]["agent_version"] == "5.6.13"
    assert not helpers.shown(out, "unset", r"(?i)analytics|telemetry|anonymous")


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if posts(out, run)}
    assert sending == {"unset", "dnt", "ci"}  # AGENT_NO_ANALYTICS honoured, DO_NOT_TRACK not
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=False)


def test_client_id_is_kept_in_the_home(out):
    ids = {run: {b["client_id"] for _, b in posts(out, run)} for run in ("unset", "dnt", "ci")}
    assert all(len(v) == 1 for v in ids.values()) and len(set.union(*ids.values())) == 3, ids
    assert any(f["evidence"]["location"] == "body:$.client_id" for f in findings(out, "PRIV-004")), \
        findings(out, "PRIV-004")
    assert not findings(out, "PRIV-003")


def test_the_vendor_api_secret_is_no_leak(out):
    for rule in ("PRIV-001", "PRIV-002", "PRIV-003", "PRIV-005", "CONF-001", "CONF-002", "CONF-003", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
