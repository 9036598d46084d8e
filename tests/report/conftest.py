"""Hand-built Audit values for the renderer tests: version and time pinned, no engine involved."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from auditor.audit import Audit, Contact, Endpoint, RequestClass, RunSummary, StepSpan
from auditor.findings import Evidence, Finding

SCENARIO = "polite-tool"
CREATED = "2025-01-02T03:04:05Z"
VERSION = "9.9.9-test"


def run(name: str, variant: str | None = None, *, scenario: str = SCENARIO, **kw) -> RunSummary:
    fields = dict(capture="tun", coverage=("tcp", "udp", "dns", "http"),
                  coverage_note="QUIC payloads are not decrypted", flows=4, exit_codes=(0, 0),
                  complete=True)
    fields.update(kw)
    return RunSummary(scenario=scenario, name=name, variant=variant or name, **fields)


def finding(rule: str, variant: str, host: str = "telemetry.polite-tool.example", *,
            location: str = "body:$.events[0].user", match: str = "username",
            excerpt: str = "jdo***", layers=("gzip", "json"), category: str = "personal", **kw) -> Finding:
    ev = Evidence(detector="canary", match=match, location=location, layers=tuple(layers),
                  excerpt=excerpt, value_digest="d" * 64, category=category)
    return Finding(rule=rule, title=kw.pop("title", f"{rule} title"), scenario=kw.pop("scenario", SCENARIO),
                   variant=variant, host=host, url=kw.pop("url", f"https://{host}/v1/collect"),
                   flow=kw.pop("flow", "flow-1"), evidence=ev, **kw)


T = "telemetry.polite-tool.example"
STEPS = (StepSpan("install", 0.0, 1.0, 0, True), StepSpan("first-use", 1.0, 3.0, 0, True))
SENT = (Contact(0.5, T, "dns", "telemetry", False, f"A? {T}"),
        Contact(0.7, T, "http", "telemetry", True, "POST /v1/collect"),
        Contact(1.2, "cdn.polite-tool.example", "http", "unknown", False, "GET /logo.png"),
        Contact(2.0, T, "http", "telemetry", True, "POST /v1/collect"))


def make_audit(**kw) -> Audit:
    runs = (
        run("unset", telemetry_requests=3, steps=STEPS, contacts=SENT, duration=3.0),
        run("denied", telemetry_requests=2, notice_seen=True, notice_at=0.3, steps=STEPS, duration=3.0,
            contacts=(Contact(1.5, T, "http", "telemetry", True, "POST /v1/collect"),)),
        run("dnt", steps=STEPS, duration=3.0),
        run("unset-2", "unset", telemetry_requests=3, steps=STEPS, contacts=SENT, duration=3.0),
    )
    findings = (
        finding("PRIV-004", "unset", location="body:$.install_id", match="install-id"),
        finding("CONSENT-001", "denied"),
        finding("PRIV-001", "unset", variants=("unset", "unset-2", "dnt")),  # grouped across runs
        finding("EGRESS-001", "unset", host="cdn.polite-tool.example", location="url", match="host",
                excerpt="", layers=()),
        finding("CONF-002", "denied", location="header:authorization", match="GITHUB_TOKEN",
                excerpt="ghp***", baselined=True),
    )
    endpoints = (
        Endpoint("telemetry.polite-tool.example", "telemetry", ("unset-2", "denied", "unset"), 8, "sinkhole",
                 ports=(("https", 443),), confidence="certain",
                 evidence=("sent in unset, not in denied: gated by consent",),
                 by_request=(RequestClass("POST telemetry.polite-tool.example/v1/collect",
                                          "telemetry.polite-tool.example", "telemetry", "certain",
                                          ("sent in unset, not in denied: gated by consent",),
                                          ("unset-2", "unset"), 8, SCENARIO),)),
        Endpoint("index.registry.example", "functional", ("unset",), 2, "forward",
                 ports=(("https", 443), ("http", 8080)), forwarded=(("https", 443), ("http", 8080))),
        Endpoint("cdn.polite-tool.example", "undeclared", ("unset",), 1, "sinkhole"),
    )
    base = dict(tool_version=VERSION, created=CREATED, capture="tun", complete=True, runs=runs,
                endpoints=endpoints, findings=findings, scenarios=(SCENARIO,), fail_on="high",
                notes=("json decoder: 1 body over 8 MiB not decoded",))
    base.update(kw)
    return Audit(**base)


@pytest.fixture
def build() -> SimpleNamespace:
    """Builders for tests that need their own Audit: build.audit(**changes), build.run, build.finding."""
    return SimpleNamespace(audit=make_audit, run=run, finding=finding)


@pytest.fixture
def audit() -> Audit:
    return make_audit()


@pytest.fixture
def incomplete_audit() -> Audit:
    runs = (run("unset", telemetry_requests=1),
            run("denied", complete=False, flows=0, exit_codes=(None,),
                problems=("sandbox could not start: tun device unavailable",)))
    return make_audit(complete=False, runs=runs, problems=("1 of 2 runs failed to capture",))


@pytest.fixture
def clean_audit() -> Audit:
    return make_audit(findings=(), endpoints=())


# Attacker-controlled strings: everything a SUT sends or prints can end up in a report.
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
JS_URL = "javascript:alert(document.cookie)//"
BIDI = "evil\u202egnp.exe"
NUL = "nul\x00byte"
LONG = "A" * 20000
MD_IMG = "![beacon](https://tracker.example/p.png)"
MD_ROW = "x | injected | row\n| new | line |"
SURROGATE = "bad\udcffbyte"


@pytest.fixture
def hostile_audit() -> Audit:
    host = f"{IMG}{BIDI}.example"
    runs = (run("unset", telemetry_requests=1, coverage_note=f"{MD_IMG} {SCRIPT}",
                problems=(f"step failed: {SCRIPT} {MD_ROW}",), duration=2.0,
                steps=(StepSpan(SCRIPT + BIDI, 0.0, 2.0, 1, False),),
                contacts=(Contact(0.5, host, "http", "telemetry", True, f"POST /{SCRIPT}{BIDI}"),
                          Contact(0.9, JS_URL, "dns", "unknown", False, f"A? {IMG}"))),)
    findings = (
        finding("PRIV-001", "unset", host=host, url=JS_URL + SCRIPT, location=f"body:$.{BIDI}",
                excerpt=f"</code>{SCRIPT}{MD_IMG}", match=IMG, layers=(SCRIPT, "json"),
                title=f"{SCRIPT} title {MD_ROW}", detail=NUL + LONG),
        finding("SEC-001", "unset", host=MD_IMG, url=f"http://{MD_IMG}", location=MD_ROW,
                excerpt=SURROGATE + "`backtick``run`"),
    )
    endpoints = (Endpoint(host, "telemetry", ("unset",), 1, "sinkhole"),
                 Endpoint(JS_URL + LONG, "undeclared", ("unset",), 1, "sinkhole"))
    return make_audit(runs=runs, findings=findings, endpoints=endpoints,
                      problems=(NUL + SCRIPT,), notes=(MD_IMG + IMG,))
