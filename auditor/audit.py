"""The plain Audit value every renderer receives (never the engine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .findings import SEVERITY_RANK, Finding


@dataclass(frozen=True)
class StepSpan:
    """One step of a run, for the timeline: seconds since the run started."""

    name: str
    start: float
    end: float
    exit_code: int | None
    ok: bool  # ended as the scenario expects (exit code, no timeout)


@dataclass(frozen=True)
class Contact:
    """One request, lookup or connection of a run, for the timeline and the consent grid."""

    at: float  # seconds since the run started
    host: str
    kind: str  # http | websocket | tcp | udp | dns
    cls: str  # telemetry | functional | unknown
    payload: bool  # carried application data (a body, a query, custom headers, client messages)
    label: str = ""  # "POST /v1/events", "A? host", "tcp :8125": as captured, shown escaped


@dataclass(frozen=True)
class RunSummary:
    """One (scenario, variant[-n]) run, as recorded in its run.json."""

    scenario: str
    name: str  # directory name: unset, unset-2, denied, …
    variant: str  # built-in variant: unset, denied, …
    capture: str  # proxy | tun | imported
    coverage: tuple[str, ...]  # protocols the capture could see: tcp, udp, dns, http
    coverage_note: str  # human statement of what the capture could NOT see
    flows: int
    exit_codes: tuple[int | None, ...]
    complete: bool
    problems: tuple[str, ...] = ()  # why the run is incomplete, timeouts, …
    dir: Path | None = None  # run directory (holds flows.mitm), None for imported captures
    notice_seen: bool = False
    telemetry_requests: int = 0
    scenario_file: str = ""  # the scenario file the run was planned from (absolute)
    scenario_root: str = ""  # the repository (git work tree) holding it, "" if none
    scenario_lines: tuple[tuple[str, int], ...] = ()  # "step:<name>", "variant:<name>", … -> line
    duration: float = 0.0  # seconds from the run's start to its end
    notice_at: float | None = None  # seconds since the start when the notice was printed
    steps: tuple[StepSpan, ...] = ()
    contacts: tuple[Contact, ...] = ()  # in time order
    isolation: str = ""  # contained | uncontained (the program ran without the sandbox) | "" (unknown)


@dataclass(frozen=True)
class RequestClass:
    """One kind of request (method, host, path template) across every run of a scenario."""

    key: str  # "POST t.example/v1/{id}/events"
    host: str
    cls: str  # telemetry | collection | functional | undeclared
    confidence: str
    evidence: tuple[str, ...]  # why, strongest first: "sent in unset, not in denied: gated by consent"
    runs: tuple[str, ...]
    requests: int
    scenario: str = ""


# Strongest first: an endpoint is what its most telling request is.
CLASS_ORDER = ("telemetry", "collection", "undeclared", "functional")


@dataclass(frozen=True)
class Endpoint:
    host: str
    cls: str  # telemetry | collection | undeclared | functional (its strongest request)
    variants: tuple[str, ...]
    requests: int  # HTTP requests (and WebSocket handshakes), all runs together
    action: str = ""  # sinkhole | forward | mixed
    ports: tuple[tuple[str, int], ...] = ()  # (scheme, port) of every connection: https 443, http 8080, …
    forwarded: tuple[tuple[str, int], ...] = ()  # those the audit let through to the real host
    lookups: int = 0  # DNS questions for the name, counted apart from requests
    connections: int = 0  # other TCP/UDP flows (no HTTP inside)
    confidence: str = ""
    evidence: tuple[str, ...] = ()  # of its strongest request
    by_request: tuple[RequestClass, ...] = ()


@dataclass(frozen=True)
class Audit:
    tool_version: str
    created: str  # ISO-8601 UTC
    capture: str
    complete: bool
    runs: tuple[RunSummary, ...]
    endpoints: tuple[Endpoint, ...]
    findings: tuple[Finding, ...]
    scenarios: tuple[str, ...] = ()
    fail_on: str = "high"
    out: Path | None = None
    problems: tuple[str, ...] = ()  # audit-level reasons it is incomplete
    notes: tuple[str, ...] = field(default_factory=tuple)  # decoder limits hit etc.

    def counted(self) -> tuple[Finding, ...]:
        """Findings that count toward the exit code (not baselined)."""
        return tuple(f for f in self.findings if not f.baselined)

    def failing(self) -> tuple[Finding, ...]:
        if self.fail_on == "never":
            return ()
        bar = SEVERITY_RANK[self.fail_on]
        return tuple(f for f in self.counted() if SEVERITY_RANK[f.severity] >= bar)

    @property
    def exit_code(self) -> int:
        if not self.complete:
            return 3
        return 1 if self.failing() else 0
