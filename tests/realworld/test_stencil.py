"""Real-world audit: Stencil 4.45.1 building a one-component library (`./dev.sh realworld`).

Observed December 2026 (Node 20, npm 11, full capture): Stencil reports only from a terminal
outside CI, so the steps run under a pseudo-terminal as a developer types them. Every command,
`stencil build` and even `stencil telemetry` (which shows the status), sends one
`POST https://api.ionicjs.com/events/metrics` ("stencil_cli_command": task, duration, component
count, packages, targets, the redacted config, CPU model, kernel release) with a `session_id`
kept in the HOME (~/.ionic/config.json, "tokens.telemetry") — the same for every command of a
HOME, so a user id despite its name. No notice is ever printed before sending. `stencil telemetry
off` is honoured; DO_NOT_TRACK=1 is ignored; CI sends nothing.
"""

import re

import pytest

from . import helpers
from .helpers import findings, output

pytestmark = pytest.mark.realworld

COLLECTOR = "api.ionicjs.com"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "stencil", "--jobs", "2")


def metrics(out, run):
    return [(e, m) for e, body in helpers.posts(out, run, COLLECTOR) for m in body["metrics"]]


def test_every_run_completes_and_telemetry_never_leaves(out):
    helpers.assert_complete(out, {COLLECTOR})
    built = [o["text"] for o in output(out, "unset") if o["step"] == "build"]
    assert any("build finished" in t for t in built), built


def test_every_command_reports_without_notice(out):
    sent = metrics(out, "unset")
    assert [(helpers.step_of(out, "unset", e), m["value"]["task"]) for e, m in sent] == [
        ("build", "build"), ("telemetry", "telemetry")]
    for e, m in sent:
        assert e.method == "POST" and e.path == "/events/metrics"
        assert m["name"] == "stencil_cli_command" and m["value"]["stencil"] == "4.45.1"
    assert sent[0][1]["value"]["component_count"] == 1
    # Nothing about telemetry is shown before the first report; `stencil telemetry` only shows
    # the status afterwards (and reports itself).
    first = sent[0][0].timestamp
    assert not [t for t in helpers.shown(out, "unset", r"(?i)telemetry|anonymous|usage data") if t < first]


def test_consent_verdicts(out):
    sending = {run for run in helpers.VARIANTS if metrics(out, run)}
    assert sending == {"unset", "dnt"}  # `stencil telemetry off` honoured, DO_NOT_TRACK not, CI skipped
    assert not [e for e in helpers.exchanges(out, "denied") if e.host == COLLECTOR]
    helpers.assert_consent_verdicts(out, COLLECTOR, sending, notice=False)


def test_session_id_is_a_user_id_kept_in_the_home(out):
    ids = {run: {m["session_id"] for _, m in metrics(out, run)} for run in ("unset", "dnt")}
    assert all(len(v) == 1 and UUID.match(next(iter(v))) for v in ids.values()), ids
    assert ids["unset"] != ids["dnt"]  # kept across commands of one HOME, new with a fresh one
    assert any(f["evidence"]["location"].endswith("session_id") for f in findings(out, "PRIV-004")), \
        findings(out, "PRIV-004")
    assert not findings(out, "PRIV-003")


def test_nothing_identifying_in_the_clear(out):
    for rule in ("PRIV-001", "PRIV-002", "PRIV-005", "CONF-001", "CONF-002", "CONF-003", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
