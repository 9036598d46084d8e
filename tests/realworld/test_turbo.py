"""Real-world audit: Turborepo 2.11.11 (a Rust binary shipped through npm) in an npm-workspaces
monorepo (`./dev.sh realworld`, not the default suite).

Re-observed November 2026 (Node 20, npm 11, full capture): each `turbo run build` sends its events
in one or two batches (best-effort as turbo exits: a fast cache hit may exit before its last batch,
or even mid-handshake), `POST https://telemetry.vercel.com/api/turborepo/v1/events`, a JSON list of
`generic`/`command`/`repo`/`task` records (turbo version, platform, cpu count, `arg:*` flags, CI
name, salted 64-hex digests of the repository and of each package), with headers
`x-turbo-telemetry-id` (64 hex, stored in the HOME) and `x-turbo-session-id` (a UUID per command).
A first-run notice goes to stderr, also under CI. TURBO_TELEMETRY_DISABLED=1 and DO_NOT_TRACK=1 are
both honoured (no lookup at all). `turbo telemetry status` reports the state and sends nothing.
Tasks run with turbo's strict environment: NODE_EXTRA_CA_CERTS, SSL_CERT_FILE and the proxy
variables are removed, so only full capture is sure to see what a task sends.
"""

import json
import re

import pytest


from ..e2e.conftest import REPO, run_cli
from . import helpers
from .helpers import exchanges, findings, manifest, output

pytestmark = pytest.mark.realworld

SCENARIO = REPO / "scenarios/realworld/turbo.yaml"
COLLECTOR = "telemetry.vercel.com"
RUNS = ("unset", "unset-2", "unset-3", "denied", "dnt", "ci")
NOTICE = re.compile(r"Turborepo now collects completely anonymous telemetry")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("turbo") / "out"
    r = run_cli("run", SCENARIO, "--out", out, "--fail-on", "never", timeout=3600)
    assert r.returncode == 0, f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return out


def posts(out, run):
    return helpers.posts(out, run, COLLECTOR)


def steps_of(out, run, sent):
    """The steps during which the exchanges started (a sender may outlive its step by a moment)."""
    spans = manifest(out, run)["steps"]
    return {max((s for s in spans if s["started"] <= e.timestamp), key=lambda s: s["started"])["name"]
            for e, _ in sent}


def records(body):
    """The event records of one batch: {kind: {...}} each."""
    assert isinstance(body, list) and body
    return [(kind, rec) for item in body for kind, rec in item.items()]


def test_every_run_completes_under_full_capture(out):
    doc = json.loads((out / "findings.json").read_text())
    assert doc["complete"] is True, doc.get("problems")
    for run in RUNS:
        m = manifest(out, run)
        assert m["exit_codes"] == [0, 0, 0, 0], (run, m["problems"])
        assert m["capture"] == "tun", "the point of this scenario is full capture (run as root)"
        for e in exchanges(out, run):
            if e.host == COLLECTOR:
                assert e.action == "sinkhole", (run, e.url)
    # The second build is served from turbo's local cache: the monorepo is set up as intended.
    again = [o["text"] for o in output(out, "unset") if o["step"] == "build-again"]
    assert any("2 cached, 2 total" in t for t in again), again
    endpoints = {e["host"]: e for e in doc["endpoints"]}
    assert endpoints[COLLECTOR]["class"] == "telemetry"
    assert set(endpoints[COLLECTOR]["variants"]) == {"ci", "unset"}
    assert all(e["class"] == "functional" and e["action"] == "forward"
               for host, e in endpoints.items() if host != COLLECTOR)
    assert not findings(out, "EGRESS-001")


def test_unset_sends_events_from_turbo_run_after_the_notice(out):
    sent = posts(out, "unset")
    # Each `turbo run` flushes its batches best-effort as it exits: how many POSTs get out varies
    # (1-2 per command; a cache hit often exits before its last batch), the first one always does.
    steps = steps_of(out, "unset", sent)
    assert sent and "build" in steps and steps <= {"build", "build-again"}, steps
    ids = set()
    for e, body in sent:
        assert e.method == "POST" and e.path == "/api/turborepo/v1/events"
        assert HEX64.match(e.header("x-turbo-telemetry-id")) and UUID.match(e.header("x-turbo-session-id"))
        ids.add(e.header("x-turbo-telemetry-id"))
        for kind, rec in records(body):
            assert kind in ("generic", "command", "repo", "task"), kind
            if kind == "repo":
                assert HEX64.match(rec["repo"])  # a salted digest, not a dictionary one
            if kind == "task":
                assert HEX64.match(rec["package"])
    assert len(ids) == 1
    facts = {(rec["key"], rec["value"]) for _, body in sent for kind, rec in records(body) if kind == "generic"}
    assert ("turbo_version", "2.11.11") in facts and ("execution", "started") in facts
    notice = [o["t"] for o in output(out, "unset") if o["stream"] == "stderr" and NOTICE.search(o["text"])]
    assert notice and notice[0] < sent[0][0].timestamp, "the notice comes first"
    (c3,) = findings(out, "CONSENT-003")
    assert helpers.variants_of(c3) == ["unset"] and c3["host"] == COLLECTOR and c3["severity"] == "medium"
    assert not findings(out, "CONSENT-004")
    assert any(o["text"] == "Status: Enabled" for o in output(out, "unset") if o["step"] == "telemetry-status")


@pytest.mark.parametrize("run", ["denied", "dnt"])
def test_opt_out_and_do_not_track_are_honoured(out, run):
    assert not [e for e in exchanges(out, run) if e.host == COLLECTOR]  # not even looked up
    assert not findings(out, variant=run)
    assert any(o["text"] == "Status: Disabled" for o in output(out, run) if o["step"] == "telemetry-status")


def test_ci_sends_after_the_notice(out):
    sent = posts(out, "ci")
    assert sent
    facts = {(rec["key"], rec["value"]) for _, body in sent for kind, rec in records(body) if kind == "generic"}
    assert ("ci", "GitHub Actions") in facts
    assert [o for o in output(out, "ci") if NOTICE.search(o["text"])]  # unlike Astro, also in CI
    (c5,) = findings(out, "CONSENT-005")
    assert helpers.variants_of(c5) == ["ci"] and c5["host"] == COLLECTOR


def test_telemetry_id_is_stored_in_the_home_and_digests_are_salted(out):
    ids = {run: {e.header("x-turbo-telemetry-id") for e, _ in posts(out, run)} for run in RUNS[:3]}
    assert all(len(v) == 1 for v in ids.values()), ids
    assert ids["unset"] == ids["unset-3"] != ids["unset-2"]
    assert any(f["evidence"]["location"] == "header:x-turbo-telemetry-id" for f in findings(out, "PRIV-004"))
    assert not findings(out, "PRIV-003")
    # The repository digest changes with the HOME (its salt lives there): not reversible by a
    # dictionary of project names, paths or remotes, hence no CONF-003.
    repos = {run: {rec["repo"] for _, body in posts(out, run) for kind, rec in records(body) if kind == "repo"}
             for run in ("unset", "unset-2")}
    assert len(repos["unset"]) == 1 and repos["unset"] != repos["unset-2"]


def test_nothing_identifying_in_the_clear_and_no_refusal_of_the_audit_ca(out):
    for rule in ("PRIV-001", "PRIV-002", "PRIV-005", "CONF-001", "CONF-002", "CONF-003", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
    # Every client here trusts the audit CA. A connection closed mid-handshake because the
    # program exited (turbo after a cache hit, npm after a quick command) is no refusal.
    assert not [f for f in findings(out, "SEC-004") if f["confidence"] != "possible"], findings(out, "SEC-004")


def test_tasks_lose_the_audit_ca_variables(out):
    # turbo's strict environment mode hands tasks a filtered environment: the CA (and proxy)
    # variables the audit sets are gone, so a task's own HTTPS client would not trust the audit
    # CA, and a proxy-variable capture would not see it at all. The first package prints what it got.
    assert "NODE_EXTRA_CA_CERTS" in manifest(out, "unset")["env"]
    got = [o["text"] for o in output(out, "unset") if o["step"] == "build" and "ca variables:" in o["text"]]
    assert got and "NODE_EXTRA_CA_CERTS=unset" in got[0] and "SSL_CERT_FILE=unset" in got[0], got


def test_npm_update_check_is_seen_on_the_allowed_registry(out):
    # npm's own weekly update check runs in the first npm command of a fresh HOME (the install),
    # rides on the allowed registry, and is skipped under CI. It is forwarded, and analysed.
    def checks(run):
        return [e for e in exchanges(out, run) if e.kind == "http" and e.path == "/npm"
                and e.header("npm-command")]
    for run in ("unset", "unset-2", "denied", "dnt"):
        found = checks(run)
        assert [e.header("npm-command") for e in found] == ["install"], run
        assert found[0].action == "forward" and found[0].response_status == 200
    assert not checks("ci") and not checks("unset-3")  # CI; and the kept HOME checked already


def test_every_host_that_got_data_has_a_consent_finding(out):
    # Issue 7's invariant, from the files, independently of the classifier.
    assert helpers.consent_gaps(out) == []
