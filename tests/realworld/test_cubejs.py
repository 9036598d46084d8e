"""Real-world audit: Cube's CLI, cubejs-cli 1.6.43, creating an app and making a token
(`./dev.sh realworld`).

Observed December 2026 (Node 20, npm 11, full capture): every command posts its events to
`POST https://track.cube.dev/track` — "Create App" with the app's name (the project's name, as a user
types it), "Generate Token", and "Error" with the full error text, a stack trace of absolute paths
under the HOME. The `anonymousId` is the unsalted SHA-256 of the machine-id: the same in every
HOME, a machine fingerprint. Here `cubejs create` fails (the server package's native module
downloads a prebuilt binary from GitHub, unreachable behind a registry-only network) and `cubejs
token` fails outside an app: both failures are reported. No notice. The CLI sends whatever
CUBEJS_TELEMETRY says (the documented opt-out; its tracker only checks `CI`) and whatever
DO_NOT_TRACK says; with CI set it sends nothing.
"""

import hashlib

import pytest

from . import helpers
from .helpers import findings, manifest

pytestmark = pytest.mark.realworld

COLLECTOR = "track.cube.dev"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "cubejs", "--jobs", "2")


def events(out, run):
    return [(e, ev) for e, body in helpers.posts(out, run, COLLECTOR) for ev in body]


def test_every_run_completes_and_events_never_leave(out):
    # `cubejs create` and `cubejs token` fail here, as described above; the install does not.
    helpers.assert_complete(out, {COLLECTOR}, exit_codes=[0, 1, 1])


def test_commands_and_their_failures_are_reported_without_notice(out):
    sent = events(out, "unset")
    assert [(helpers.step_of(out, "unset", e), ev["event"]) for e, ev in sent] == [
        ("create", "Create App"), ("create", "Error"), ("token", "Generate Token"), ("token", "Error")]
    name = manifest(out, "unset")["identity"]["project_name"]
    assert sent[0][1]["projectName"] == f"{name}-analytics"
    home = manifest(out, "unset")["identity"]["home"]
    assert all(home in ev["error"] for _, ev in sent if ev["event"] == "Error")  # stack traces with paths
    assert not [t for t in helpers.shown(out, "unset", r"(?i)telemetry|usage|anonymous") if t < sent[0][0].timestamp]


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if events(out, run)}
    assert sending == {"unset", "denied", "dnt"}  # CUBEJS_TELEMETRY=false and DO_NOT_TRACK ignored; CI not
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=False)


def test_anonymous_id_is_a_digest_of_the_machine_id(out):
    machine_id = manifest(out, "unset")["identity"]["machine_id"]
    ids = {ev["anonymousId"] for run in ("unset", "denied", "dnt") for _, ev in events(out, run)}
    assert ids == {hashlib.sha256(machine_id.encode()).hexdigest()}  # one value in every HOME
    priv2 = [f for f in findings(out, "PRIV-002") if f["host"] == COLLECTOR]
    assert any(f["evidence"]["match"] == "machine_id" and f["evidence"]["form"] == "sha256" for f in priv2), priv2
    assert any(f["evidence"]["location"].endswith("anonymousId") for f in findings(out, "PRIV-003")), \
        findings(out, "PRIV-003")


def test_project_name_and_home_path_are_sent_in_the_clear(out):
    conf = [f for f in findings(out, "CONF-001", variant="unset") if f["host"] == COLLECTOR]
    assert any(f["evidence"]["match"] == "project_name" and f["evidence"]["location"].endswith("projectName")
               for f in conf), conf
    priv = [f for f in findings(out, "PRIV-001", variant="unset") if f["host"] == COLLECTOR]
    assert any(f["evidence"]["match"] in ("home", "username") and f["evidence"]["location"].endswith("error")
               for f in priv), priv
    assert not findings(out, "CONF-002") and not findings(out, "SEC-001")
