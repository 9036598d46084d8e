"""Reading one real-world audit's output directory, and the consent verdicts its observed
behaviour implies (shared by the real-world test modules)."""

import functools
import json
import os
import re
import time
from pathlib import Path

from auditor import flowstore

from ..e2e.consent_gaps import consent_gaps
from ..e2e.conftest import REPO, run_cli

VARIANTS = ("unset", "denied", "dnt", "ci")
CONSENT_RULE = {"denied": "CONSENT-001", "dnt": "CONSENT-002", "ci": "CONSENT-005"}


def audit(tmp_path_factory, name, *args, timeout=3600):
    """Audit scenarios/realworld/NAME.yaml into a fresh directory; return it. Prints the duration
    (pytest -s shows it): the suite's runtime is worth watching as tools grow.

    REALWORLD_REUSE=DIR reads DIR/NAME (an earlier `egress-audit run ... --out DIR/NAME`) instead
    of auditing again: for writing tests against one capture, never for the suite's verdict."""
    reuse = os.environ.get("REALWORLD_REUSE")
    if reuse:
        return Path(reuse) / name
    out = tmp_path_factory.mktemp(name) / "out"
    started = time.monotonic()
    r = run_cli("run", REPO / "scenarios/realworld" / f"{name}.yaml", "--out", out, "--fail-on", "never",
                *args, timeout=timeout)
    print(f"\n[realworld] {name}: audit took {time.monotonic() - started:.0f} s")
    assert r.returncode == 0, f"{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return out


def _runs(out):
    [scenario_dir] = list((out / "runs").iterdir())  # one scenario per real-world audit
    return scenario_dir


def variants_of(finding):
    """The runs a finding was seen in (findings that differ only by variant are grouped)."""
    return finding.get("variants") or [finding["variant"]]


def findings(out, rule=None, variant=None, host=None):
    doc = json.loads((out / "findings.json").read_text())
    return [f for f in doc["findings"] if (rule is None or f["rule"] == rule)
            and (variant is None or variant in variants_of(f)) and (host is None or f["host"] == host)]


def endpoints(out):
    return {e["host"]: e for e in json.loads((out / "findings.json").read_text())["endpoints"]}


def manifest(out, run):
    return json.loads((_runs(out) / run / "run.json").read_text())


def exchanges(out, run):
    return list(_exchanges(str(out), run))


@functools.lru_cache(maxsize=8)
def _exchanges(out, run):
    # Reading a run's flows (package downloads included) takes seconds; every test of a module
    # asks again.
    return tuple(flowstore.read_mitm(_runs(Path(out)) / run / "flows.mitm"))


def requests(out, run, collector):
    """The HTTP requests of a run to the collector, in time order."""
    sent = [e for e in exchanges(out, run) if e.kind == "http" and e.host == collector]
    return sorted(sent, key=lambda e: e.timestamp)


def posts(out, run, collector):
    """The requests of a run to the collector with their decoded JSON bodies, in time order."""
    return [(e, json.loads(e.request_body)) for e in requests(out, run, collector)]


def output(out, run):
    lines = (_runs(out) / run / "output.jsonl").read_text().splitlines()
    return [json.loads(l) for l in lines if l.strip()]


def shown(out, run, pattern):
    """Times at which the program printed a line matching pattern (stdout, stderr or terminal)."""
    rx = re.compile(pattern)
    return [o["t"] for o in output(out, run) if o["stream"] in ("stdout", "stderr", "tty") and rx.search(o["text"])]


def step_of(out, run, e):
    """The step during which an exchange started (a sender may outlive its step by a moment)."""
    spans = [s for s in manifest(out, run)["steps"] if s["started"] <= e.timestamp]
    return max(spans, key=lambda s: s["started"])["name"] if spans else None


def assert_complete(out, collectors, runs=VARIANTS, exit_codes=None):
    """Every run completed as written (every step exited 0, or with `exit_codes`), and no collector
    was ever reached (answered locally)."""
    doc = json.loads((out / "findings.json").read_text())
    assert doc["complete"] is True, doc.get("problems")
    for run in runs:
        m = manifest(out, run)
        assert m["problems"] == [], (run, m["problems"])
        if exit_codes is None:
            assert all(c == 0 for c in m["exit_codes"]), (run, m["exit_codes"])
        else:
            assert m["exit_codes"] == exit_codes, (run, m["exit_codes"])
        for e in exchanges(out, run):
            if e.host in collectors:
                assert e.action == "sinkhole", (run, e.url)
    # Issue 7's invariant, checked from the files independently of the classifier: every host that
    # got undeclared data in unset has a consent finding.
    assert consent_gaps(out) == []


def assert_consent_verdicts(out, collector, sending, notice):
    """The consent rules (SPEC §7) that what was observed must produce, and must not.

    sending: the variants in which the collector received requests (observed by the test itself);
    notice: whether the user saw a notice before the first request of `unset`."""
    assert "unset" in sending, "a tool in this suite sends by default"
    c3 = findings(out, "CONSENT-003", host=collector)
    assert [variants_of(f) for f in c3] == [["unset"]], c3
    assert c3[0]["severity"] in ("medium", "high")
    for variant, rule in CONSENT_RULE.items():
        got = findings(out, rule, host=collector)
        if variant in sending:
            assert [variants_of(f) for f in got] == [[variant]], (rule, got)
        else:
            assert not findings(out, rule), (rule, findings(out, rule))
    c4 = findings(out, "CONSENT-004", host=collector)
    assert bool(c4) != notice, ("CONSENT-004", notice, c4)
    if "denied" not in sending:
        assert not findings(out, "SEC-005"), findings(out, "SEC-005")
