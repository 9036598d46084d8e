"""Real-world audit: AWS SAM CLI 1.170.0 validating and building a one-function application
(`./dev.sh realworld`).

Observed December 2026 (Python 3.11 venv, full capture): the first command of a HOME prints the
notice "SAM CLI now collects telemetry ..." on stderr, then every command sends its metrics to
`POST https://aws-serverless-tools-telemetry.us-west-2.amazonaws.com/metrics`: an "installed" record
once, then "events" and "commandRun" records (command name, duration, exit code, region, container
engine, Python and SAM versions). All carry `installationId` (a UUID kept in the HOME,
~/.aws-sam/metadata.json) and a `sessionId` per command; `projectName` is the unsalted SHA-256 of
the project directory's name. SAM_CLI_TELEMETRY=0 is honoured; DO_NOT_TRACK=1 is ignored; CI
sends (with "ci": true) after the same notice.
"""

import hashlib
import re

import pytest

from . import helpers
from .helpers import findings, manifest

pytestmark = pytest.mark.realworld

COLLECTOR = "aws-serverless-tools-telemetry.us-west-2.amazonaws.com"
NOTICE = r"SAM CLI now collects telemetry"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "aws-sam-cli", "--jobs", "2")


def records(out, run):
    """(exchange, kind, record) for every metric sent in a run."""
    return [(e, kind, rec) for e, body in helpers.posts(out, run, COLLECTOR)
            for metric in body["metrics"] for kind, rec in metric.items()]


def test_every_run_completes_and_telemetry_never_leaves(out):
    helpers.assert_complete(out, {COLLECTOR})


def test_every_command_reports_after_the_notice(out):
    sent = records(out, "unset")
    runs = [(helpers.step_of(out, "unset", e), rec["commandName"]) for e, kind, rec in sent if kind == "commandRun"]
    assert runs == [("validate", "sam validate"), ("build", "sam build")]
    assert [kind for _, kind, _ in sent].count("installed") == 1
    for e, kind, rec in sent:
        assert e.method == "POST" and e.path == "/metrics"
        assert rec["samcliVersion"] == "1.170.0" and rec["ci"] is False
    notice = helpers.shown(out, "unset", NOTICE)
    assert notice and notice[0] < sent[0][0].timestamp, "the notice comes first"


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if records(out, run)}
    assert sending == {"unset", "dnt", "ci"}  # SAM_CLI_TELEMETRY=0 honoured, DO_NOT_TRACK not
    assert not [e for e in helpers.exchanges(out, "denied") if e.host == COLLECTOR]
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=True)


def test_ci_sends_and_says_so(out):
    sent = records(out, "ci")
    assert sent and all(rec["ci"] is True for _, _, rec in sent)
    assert helpers.shown(out, "ci", NOTICE)  # the notice is printed under CI too


def test_installation_id_is_kept_in_the_home(out):
    ids = {run: {rec["installationId"] for _, _, rec in records(out, run)} for run in ("unset", "dnt")}
    assert all(len(v) == 1 and UUID.match(next(iter(v))) for v in ids.values()) and ids["unset"] != ids["dnt"]
    sessions = {rec["sessionId"] for _, kind, rec in records(out, "unset") if kind == "commandRun"}
    assert len(sessions) == 2  # one per command
    locations = {f["evidence"]["location"] for f in findings(out, "PRIV-004")}
    assert any(loc.endswith("installationId") for loc in locations), locations
    assert not any(loc.endswith("sessionId") for loc in locations), locations
    assert not findings(out, "PRIV-003")


def test_project_name_is_an_unsalted_digest_of_the_directory_name(out):
    name = manifest(out, "unset")["identity"]["project_name"]
    sent = {rec["metricSpecificAttributes"]["projectName"] for _, kind, rec in records(out, "unset")
            if kind == "commandRun"}
    assert sent == {hashlib.sha256(name.encode()).hexdigest()}
    conf = findings(out, "CONF-003", variant="unset")
    assert any(f["evidence"]["match"] == "project_name" and f["evidence"]["form"] == "sha256"
               and f["evidence"]["location"].endswith("projectName") for f in conf), conf


def test_nothing_else_identifying(out):
    for rule in ("PRIV-001", "PRIV-002", "PRIV-005", "CONF-001", "CONF-002", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
