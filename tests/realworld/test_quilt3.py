"""Real-world audit: quilt3 8.0.0 building a data package into the local registry
(`./dev.sh realworld`).

Observed December 2026 (Python 3.11 venv, full capture): every API call sends one
`POST https://telemetry.quiltdata.cloud/Prod/metrics` ({"api_name": "package.build"}, then
"api.list_packages"), with client and Python versions and platform, and a `python_session_id`
made afresh by every Python process — no id is kept in the HOME. No notice is ever shown.
QUILT_DISABLE_USAGE_METRICS=True is honoured; DO_NOT_TRACK=1 is ignored; CI sends.
"""

import pytest

from . import helpers
from .helpers import findings

pytestmark = pytest.mark.realworld

COLLECTOR = "telemetry.quiltdata.cloud"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "quilt3", "--jobs", "2")


def posts(out, run):
    return helpers.posts(out, run, COLLECTOR)


def test_every_run_completes_and_telemetry_never_leaves(out):
    helpers.assert_complete(out, {COLLECTOR})


def test_every_api_call_reports_without_notice(out):
    sent = posts(out, "unset")
    assert [(helpers.step_of(out, "unset", e), b["api_name"]) for e, b in sent] == [
        ("build", "package.build"), ("build", "api.list_packages"), ("list", "api.list_packages")]
    for e, body in sent:
        assert e.method == "POST" and e.path == "/Prod/metrics"
        assert body["client_version"] == "8.0.0" and body["client_type"] == "quilt3-python-client"
    assert not helpers.shown(out, "unset", r"(?i)telemetry|usage metrics|anonymous")


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if posts(out, run)}
    assert sending == {"unset", "dnt", "ci"}  # QUILT_DISABLE_USAGE_METRICS honoured, DO_NOT_TRACK not
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=False)


def test_session_id_lives_and_dies_with_the_process(out):
    by_step = {}
    for e, body in posts(out, "unset"):
        by_step.setdefault(helpers.step_of(out, "unset", e), set()).add(body["python_session_id"])
    assert len(by_step["build"]) == 1 and by_step["build"] != by_step["list"], by_step
    # A per-process id that no HOME keeps tracks nobody across runs: neither PRIV-004 nor PRIV-003.
    assert not findings(out, "PRIV-004") and not findings(out, "PRIV-003")


def test_nothing_identifying_in_the_clear(out):
    for rule in ("PRIV-001", "PRIV-002", "PRIV-005", "CONF-001", "CONF-002", "CONF-003", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
