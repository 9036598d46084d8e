"""Per-request classification across the variants of a scenario: the variants are an experiment.

Requests are matched across runs by a stable key (method, host, path template with ids and versions
normalised), because a collector often shares its host with an update check. Each key then gets
a class and the evidence for it, strongest first:

* declared in `expect.telemetry` → telemetry; in `expect.functional` → functional;
* a collector protocol recognised in the payload (collectors/) → telemetry;
* allowed by `network.allow` (package registries) → functional;
* sent with data in the base run (`unset`) but not in a complete run that refused (`denied`,
  `dnt`) → telemetry, certain: the consent switch gates it, whatever its name;
* an event-shaped payload → telemetry;
* an undeclared destination receiving an identifier or personal data → data collection
  (telemetry when its name says so too);
* anything else — the same request in every variant with no identifier and no personal data (an
  update or metadata fetch) — is undeclared egress: EGRESS-001, never a consent finding.

Names (catalog.py) only label a request and raise confidence; they never decide alone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from . import variants
from .audit import RequestClass
from .catalog import event_shaped, name_label
from .identifiers import TRACKING, Verdict
from .policy import is_allowed, matches_endpoint

_VERSION = re.compile(r"\d+(?:\.\d+)+(?:[-+][0-9A-Za-z.]+)?")
_ID_SEGMENT = re.compile(r"^(?:\d{2,}|[0-9a-fA-F]{12,}|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[A-Za-z0-9_-]{40,})$")


def path_template(path: str) -> str:
    """/v1/users/8c1f…/events?x=1 -> /v1/users/{id}/events; versions inside names become {v}."""
    out = []
    for seg in path.split("?", 1)[0].split("#", 1)[0].split("/"):
        if _ID_SEGMENT.match(seg):
            out.append("{id}")
        else:
            out.append(_VERSION.sub("{v}", seg))
    return "/".join(out) or "/"


def request_key(kind: str, method: str, host: str, path: str, port: int = 0) -> str:
    if kind in ("http", "websocket"):
        return f"{method} {host}{path_template(path)}"
    return f"{kind} {host}:{port}" if port else f"{kind} {host}"


def declared(host: str, path: str | None, telemetry: tuple[str, ...], functional: tuple[str, ...],
             allowed: tuple[str, ...]) -> str:
    """What the scenario says of a destination: telemetry | functional | allowed | "". `path` None:
    a DNS lookup or a raw stream, which has no path: a host/path pattern's host is enough."""
    def match(patterns: tuple[str, ...]) -> bool:
        if path is None:
            return is_allowed(host, patterns)
        return matches_endpoint(host, path, patterns)

    if telemetry and match(telemetry):
        return "telemetry"
    if functional and match(functional):
        return "functional"
    if allowed and is_allowed(host, allowed):
        return "allowed"
    return ""


@dataclass
class _Key:
    host: str
    xs: list  # (RunFacts, ExchangeFacts)


def classify(runs: list, verdicts: list[Verdict]) -> list[RequestClass]:
    """Set cls/reason/confidence on every exchange of one scenario's runs; return the classes."""
    keys: dict[str, _Key] = {}
    for r in runs:
        for x in r.exchanges:
            keys.setdefault(x.key, _Key(x.ex.host, [])).xs.append((r, x))
    tracking, by_key = defaultdict(list), defaultdict(list)
    for v in verdicts:
        by_key[v.key].append(v)
        if v.kind in TRACKING:
            tracking[v.key].append(v)
    base_runs = [r for r in runs if not r.twin]
    out = []
    for key, k in keys.items():
        cls, confidence, evidence = _judge(key, k, base_runs, tracking.get(key, []))
        evidence += [v.describe() for v in by_key.get(key, ()) if v.kind in ("constant", "nonce")][:3]
        reason = "; ".join(evidence)
        for _, x in k.xs:
            x.cls, x.confidence, x.reason = cls, confidence, reason
        used = {r.run for r, x in k.xs}
        out.append(RequestClass(key, k.host, cls, confidence, tuple(evidence), tuple(sorted(used)), len(k.xs),
                                k.xs[0][0].scenario))
    return out


def _sent_in(k: _Key, runs: list) -> dict[str, bool]:
    """Per run name: did this key go out with data there?"""
    return {r.run: any(x.has_payload for rr, x in k.xs if rr is r) for r in runs}


def _judge(key: str, k: _Key, base_runs: list, tracked: list[Verdict]) -> tuple[str, str, list[str]]:
    xs = [x for _, x in k.xs]
    x0 = xs[0]
    label = x0.label
    ev: list[str] = []
    proto = next((x.protocol for x in xs if x.protocol), None)
    if proto:
        ev.append(proto.evidence)
    gated = _gated(k, base_runs)
    if gated:
        ev.append(gated)
    personal = sorted({e.match for x in xs for e in x.evidence})
    if tracked:
        ev.append("identifiers: " + "; ".join(v.describe() for v in tracked[:3]))
    if personal:
        ev.append("personal or confidential data: " + ", ".join(personal[:5]))
    keys = frozenset().union(*(x.event_keys for x in xs))
    shaped = event_shaped(set(keys), x0.ex.path)
    if shaped:
        ev.append("event-shaped payload: " + ", ".join(sorted(keys)))
    if label:
        ev.append(label)
    if x0.declared == "telemetry":
        return "telemetry", "certain", ["declared in expect.telemetry", *ev]
    if x0.declared == "functional":
        return "functional", "certain", ["declared in expect.functional", *ev]
    if proto:
        return "telemetry", "certain", ev
    if x0.declared == "allowed":
        return "functional", "certain", ["allowed by network.allow", *ev]
    if not any(x.has_payload for x in xs):
        return "undeclared", "certain", ["no data sent (a lookup or a bare request)", *ev]
    if gated:
        return "telemetry", "certain", ev
    if shaped:
        return "telemetry", "likely", ev
    if tracked or personal:
        return ("telemetry" if label else "collection"), "likely", ev
    everywhere = _everywhere(k, base_runs)
    return "undeclared", "certain", [everywhere or "no identifier and no personal data", *ev]


def _gated(k: _Key, base_runs: list) -> str:
    """Sent with data in the base variant, not in a complete run that refused: consent-gated."""
    sent = _sent_in(k, base_runs)
    base = [r for r in base_runs if variants.get(r.variant) and variants.get(r.variant).base and sent[r.run]]
    if not base:
        granted = [r for r in base_runs if variants.get(r.variant) and variants.get(r.variant).consent == "granted"
                   and sent[r.run]]
        quiet = [r for r in base_runs if (v := variants.get(r.variant)) and v.base and r.complete
                 and r.run == r.variant]
        if granted and quiet:
            return f"sent in {granted[0].run}, not in {quiet[0].run}: sent only with consent (opt-in)"
        return ""
    refused = [r for r in base_runs if (v := variants.get(r.variant)) and v.refuses and r.complete
               and r.run == r.variant and not sent[r.run]]
    if not refused:
        return ""
    return f"sent in {base[0].run}, not in {', '.join(r.run for r in refused)}: gated by consent"


def _everywhere(k: _Key, base_runs: list) -> str:
    sent = _sent_in(k, base_runs)
    firsts = [r.run for r in base_runs if r.run == r.variant]
    if len(firsts) >= 2 and all(sent.get(n) for n in firsts):
        return f"the same request in every variant ({', '.join(firsts)}) with no identifier and no personal data"
    return ""
