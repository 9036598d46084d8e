"""Real-world audit: Meltano 4.4.1 creating a project (`./dev.sh realworld`), refused with the
documented MELTANO_DISABLE_TRACKING=True (meltano-settings-optout.yaml refuses through the setting).

Observed December 2026 (Python 3.11 venv, full capture): every command posts Snowplow events to
`POST https://sp.meltano.com/com.snowplowanalytics.snowplow/tp2` — a JSON `payload_data` whose
events carry base64 JSON: `ue_px` ("cli_event": started / completed) and `cx`, the contexts: an
environment context (Python and OS versions, kernel release, CPU count, SHA-256 digests of the
process names up the tree), a project context with `project_uuid` (kept in meltano.yml) and
`client_uuid` (kept in the project's .meltano/analytics.json), and the CLI command with its options
hashed; in CI, an unsalted SHA-256 of GITHUB_REPOSITORY. No notice. MELTANO_DISABLE_TRACKING=True, the variable Meltano's README gives for turning
tracking off "across all Meltano projects", is ignored: the setting it used to feed
(`disable_tracking`) is only read when `send_anonymous_usage_stats` is unset, and that setting
defaults to true. MELTANO_SEND_ANONYMOUS_USAGE_STATS=false is honoured.
"""

import base64
import hashlib
import json

import pytest

from . import helpers
from .helpers import findings

pytestmark = pytest.mark.realworld

COLLECTOR = "sp.meltano.com"
PATH = "/com.snowplowanalytics.snowplow/tp2"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "meltano", "--jobs", "2")


def b64json(text):
    return json.loads(base64.b64decode(text + "=" * (-len(text) % 4)))


def events(out, run):
    """(exchange, event, {context name: data}) for every Snowplow event of a run."""
    found = []
    for e, body in helpers.posts(out, run, COLLECTOR):
        assert e.method == "POST" and e.path == PATH
        assert body["schema"].startswith("iglu:com.snowplowanalytics.snowplow/payload_data/")
        for item in body["data"]:
            contexts = {c["schema"].split("/")[1]: c["data"] for c in b64json(item["cx"])["data"]}
            found.append((e, b64json(item["ue_px"])["data"]["data"], contexts))
    return found


def test_every_run_completes_and_events_never_leave(out):
    helpers.assert_complete(out, {COLLECTOR})


def test_every_command_sends_snowplow_events_without_notice(out):
    sent = events(out, "unset")
    assert {helpers.step_of(out, "unset", e) for e, _, _ in sent} == {"init", "config"}
    commands = {ctx["cli_context"]["command"] for _, _, ctx in sent}
    assert commands == {"init", "list"}, commands
    assert {"started", "completed"} <= {ev.get("event") for _, ev, _ in sent}
    env = sent[0][2]["environment_context"]
    assert env["meltano_version"] == "4.4.1" and env["is_ci_environment"] is False
    first = sent[0][0].timestamp
    assert not [t for t in helpers.shown(out, "unset", r"(?i)anonymous usage|telemetry|tracking") if t < first]


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if events(out, run)}
    # The documented MELTANO_DISABLE_TRACKING=True does not hold; DO_NOT_TRACK neither; CI sends.
    assert sending == {"unset", "denied", "dnt", "ci"}
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=False)


def test_ci_is_reported_with_a_digest_of_the_repository(out):
    repo = helpers.manifest(out, "ci")["identity"]["ci_repository"]
    for _, _, ctx in events(out, "ci"):
        env = ctx["environment_context"]
        assert env["is_ci_environment"] is True
        assert env["notable_hashed_env_vars"]["GITHUB_REPOSITORY"] == hashlib.sha256(repo.encode()).hexdigest()
    conf = findings(out, "CONF-003", variant="ci")
    assert any(f["evidence"]["match"] == "ci_repository" and f["evidence"]["form"] == "sha256"
               and f["evidence"]["location"].endswith("notable_hashed_env_vars.GITHUB_REPOSITORY") for f in conf), conf


def test_client_and_project_ids_are_kept_in_the_project(out):
    ids = {run: {(c["project_context"]["client_uuid"], c["project_context"]["project_uuid"])
                 for _, _, c in events(out, run)} for run in ("unset", "dnt")}
    assert all(len(v) == 1 for v in ids.values()) and ids["unset"] != ids["dnt"], ids
    locations = {f["evidence"]["location"] for f in findings(out, "PRIV-004")}
    assert any(loc.endswith("client_uuid") for loc in locations), locations
    assert not findings(out, "PRIV-003")


def test_the_setting_opt_out_holds(tmp_path_factory):
    # The companion scenario refuses through MELTANO_SEND_ANONYMOUS_USAGE_STATS=false (denied only).
    other = helpers.audit(tmp_path_factory, "meltano-settings-optout")
    helpers.assert_complete(other, {COLLECTOR}, runs=("denied",))
    assert not events(other, "denied")
    assert not [e for e in helpers.exchanges(other, "denied") if e.host == COLLECTOR]  # not even looked up
    assert not [f for f in findings(other) if f["rule"].startswith(("CONSENT", "SEC-005"))]


def test_nothing_identifying_in_the_clear(out):
    for rule in ("PRIV-001", "PRIV-002", "PRIV-005", "CONF-001", "CONF-002", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
