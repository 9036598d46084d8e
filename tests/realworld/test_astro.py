"""Real-world audit: Astro 5.18.2 (`@astrojs/telemetry`) building a one-page site
(`./dev.sh realworld`, not the default suite).

Re-observed November 2026 (Node 20, npm 11, full capture): every `astro build` sends one
`POST https://telemetry.astro.build/api/v1/record` with event ASTRO_CLI_SESSION_STARTED
(cliCommand "build"), after the notice "Astro collects anonymous usage data." on the first run of
a HOME. ASTRO_TELEMETRY_DISABLED=1 is honoured (not even a DNS lookup); DO_NOT_TRACK=1 is ignored;
CI sends with anonymousId "CI.<ci name>" and prints no notice. `anonymousId` is 64 hex stored in
the HOME (~/.config/astro); `anonymousProjectId` is the unsalted SHA-256 of the git root commit in
a repository, of the absolute project path outside one (none in CI). `astro telemetry` alone only
prints its usage and sends nothing.
"""

import hashlib
import json
import re

import pytest



from . import helpers
from .helpers import exchanges, findings, manifest, output

pytestmark = pytest.mark.realworld

COLLECTOR = "telemetry.astro.build"
RUNS = ("unset", "unset-2", "unset-3", "denied", "dnt", "ci")
NOTICE = re.compile(r"Astro collects anonymous usage data")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return helpers.audit(tmp_path_factory, "astro")  # REALWORLD_REUSE works here too


def posts(out, run):
    return helpers.posts(out, run, COLLECTOR)


def step_of(out, run, e):
    """The step during which an exchange started (a sender may outlive its step by a moment)."""
    spans = [s for s in manifest(out, run)["steps"] if s["started"] <= e.timestamp]
    return max(spans, key=lambda s: s["started"])["name"] if spans else None


def test_every_run_completes_and_telemetry_never_leaves(out):
    doc = json.loads((out / "findings.json").read_text())
    assert doc["complete"] is True, doc.get("problems")
    for run in RUNS:
        m = manifest(out, run)
        assert m["exit_codes"] == [0, 0, 0, 0], (run, m["problems"])
        for e in exchanges(out, run):
            if e.host == COLLECTOR:
                assert e.action == "sinkhole", (run, e.url)  # answered locally, never reached Astro
            elif e.kind == "http":
                assert e.action == "forward" and e.response_status == 200, (run, e.url, e.error)
    endpoints = {e["host"]: e for e in doc["endpoints"]}
    assert endpoints[COLLECTOR]["class"] == "telemetry"
    assert set(endpoints[COLLECTOR]["variants"]) == {"ci", "dnt", "unset"}
    assert all(e["class"] == "functional" and e["action"] == "forward"
               for host, e in endpoints.items() if host != COLLECTOR)
    assert not findings(out, "EGRESS-001")


def test_unset_sends_one_session_event_per_build_after_the_notice(out):
    sent = posts(out, "unset")
    # One per build (in the repository, and outside git); `astro telemetry` alone sends nothing.
    assert [step_of(out, "unset", e) for e, _ in sent] == ["build", "build-outside-git"]
    for e, body in sent:
        assert e.method == "POST" and e.path == "/api/v1/record"
        assert [ev["eventName"] for ev in body["events"]] == ["ASTRO_CLI_SESSION_STARTED"]
        assert body["events"][0]["payload"]["cliCommand"] == "build"
        assert HEX64.match(body["context"]["anonymousId"])
        assert body["meta"]["astroVersion"] == "5.18.2" and body["meta"]["isCI"] is False
    notice = [o["t"] for o in output(out, "unset") if o["stream"] in ("stdout", "stderr") and NOTICE.search(o["text"])]
    assert notice and notice[0] < sent[0][0].timestamp, "the notice comes first"
    (c3,) = findings(out, "CONSENT-003")
    assert helpers.variants_of(c3) == ["unset"] and c3["host"] == COLLECTOR and c3["severity"] == "medium"
    assert not findings(out, "CONSENT-004")


def test_documented_opt_out_is_honoured(out):
    assert not [e for e in exchanges(out, "denied") if e.host == COLLECTOR]  # not even looked up
    assert not findings(out, "CONSENT-001") and not findings(out, "SEC-005")
    assert not findings(out, variant="denied")


def test_do_not_track_is_ignored(out):
    assert len(posts(out, "dnt")) == 2
    (c2,) = findings(out, "CONSENT-002")
    assert helpers.variants_of(c2) == ["dnt"] and c2["host"] == COLLECTOR and c2["severity"] == "high"


def test_ci_sends_without_notice(out):
    sent = posts(out, "ci")
    assert sent
    for _, body in sent:
        assert body["context"]["anonymousId"].startswith("CI.")  # "CI.GitHub Actions" here
        assert body["meta"]["isCI"] is True
    assert not [o for o in output(out, "ci") if NOTICE.search(o["text"])]
    (c5,) = findings(out, "CONSENT-005")
    assert helpers.variants_of(c5) == ["ci"] and c5["host"] == COLLECTOR


def test_anonymous_id_is_stored_in_the_home(out):
    ids = {run: {body["context"]["anonymousId"] for _, body in posts(out, run)} for run in RUNS[:3]}
    assert all(len(v) == 1 for v in ids.values()), ids
    assert ids["unset"] == ids["unset-3"] != ids["unset-2"]  # kept with the HOME, new with a fresh one
    assert any(f["evidence"]["location"] == "body:$.context.anonymousId" for f in findings(out, "PRIV-004"))
    assert not findings(out, "PRIV-003")


def test_project_id_is_an_unsalted_digest_of_the_project_path_outside_git(out):
    for run in ("unset", "dnt"):
        path = manifest(out, run)["identity"]["project_path"]
        ctx = [body["context"] for _, body in posts(out, run)]
        assert [c["isGit"] for c in ctx] == [True, False]
        assert HEX64.match(ctx[0]["anonymousProjectId"])  # sha256 of the git root commit
        assert ctx[0]["anonymousProjectId"] != hashlib.sha256(path.encode()).hexdigest()
        assert ctx[1]["anonymousProjectId"] == hashlib.sha256(path.encode()).hexdigest()
    conf = findings(out, "CONF-003")
    by_value: dict[str, set[str]] = {}
    for f in conf:
        ev = f["evidence"]
        assert (ev["location"], ev["form"]) == ("body:$.context.anonymousProjectId", "sha256")
        by_value.setdefault(ev["match"], set()).update(helpers.variants_of(f))
    # Outside git: sha256 of the absolute path; inside git: sha256 of the planted root commit
    # (the audit plants and searches it, so the id is reported as a project digest, not a tracker).
    # Every run that sends it (the repeats too: one project path in every sandbox), identity twins
    # aside (a twin's project has its own path).
    assert {r for r in by_value["project_path"] if "-twin-" not in r} == {"unset", "unset-2", "unset-3", "dnt"}
    assert {"unset", "dnt", "ci"} <= by_value["git_root_commit"]
    assert not [f for f in findings(out, "PRIV-004") if "anonymousProjectId" in f["evidence"]["location"]]
    # CI runs outside git send no project id at all.
    assert "anonymousProjectId" not in posts(out, "ci")[1][1]["context"]


def test_nothing_identifying_in_the_clear_and_no_refusal_of_the_audit_ca(out):
    # The payload carries platform facts (kernel release, CPU model, memory, isDocker) but no
    # planted value in the clear; the registry traffic carries none either.
    for rule in ("PRIV-001", "PRIV-002", "PRIV-005", "CONF-001", "CONF-002", "SEC-001"):
        assert not findings(out, rule), (rule, findings(out, rule))
    # Every client here trusts the audit CA. A connection closed mid-handshake because the
    # program exited (turbo after a cache hit, npm after a quick command) is no refusal.
    assert not [f for f in findings(out, "SEC-004") if f["confidence"] != "possible"], findings(out, "SEC-004")


def test_every_host_that_got_data_has_a_consent_finding(out):
    # Issue 7's invariant, from the files, independently of the classifier.
    assert helpers.consent_gaps(out) == []
