"""Evidence and cross-variant facts → findings (the rule table of SPEC §7)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from . import variants
from .collectors import Recognition
from .findings import CONFIDENCES, Evidence, Finding, RULES, digest, redact
from .flowstore import Exchange
from .identifiers import Verdict
from .identity import category

CODE_PATH = re.compile(r"\.(js|mjs|py|sh|ps1|json|ya?ml|toml|xml|whl|tgz|tar\.gz|zip|jar|exe|"
                       r"deb|rpm|conf|cfg|ini)$|/(update|config|install|download|manifest)", re.I)
# Category (declared by the detector) -> rule. A planted value is known data: plain or digest.
DIGEST_RULE = {"personal": "PRIV-002", "confidential": "CONF-003", "credential": "CONF-002"}
PLAIN_RULE = {"personal": "PRIV-001", "confidential": "CONF-001", "credential": "CONF-002"}
# A heuristic hit is probable data; a confidential one is a guessed digest of a planted value.
HEURISTIC_RULE = {"personal": "PRIV-005", "confidential": "CONF-003", "credential": "CONF-002"}


# Classes that collect data (the awareness rules apply); the rest is functional or plain egress.
COLLECTING = ("telemetry", "collection")


@dataclass
class ExchangeFacts:
    ex: Exchange
    cls: str  # telemetry | collection | functional | undeclared (classify.py, across variants)
    reason: str
    evidence: list[Evidence]
    identifiers: dict[str, str] = field(default_factory=dict)  # location -> id-like value
    # Why part of this exchange was not inspected (analysis limits, an analysis error): SEC-004,
    # and the run is incomplete.
    uninspected: tuple[str, ...] = ()
    key: str = ""  # request key across variants: method, host and path template
    declared: str = ""  # telemetry | functional | allowed: what the scenario says of the destination
    protocol: Recognition | None = None  # a collector protocol recognised in the payload
    label: str = ""  # what the destination's name says (catalog), "" when nothing
    event_keys: frozenset[str] = frozenset()
    confidence: str = "certain"  # of the class

    @property
    def has_payload(self) -> bool:
        ex = self.ex
        if ex.kind == "dns":
            return False
        return bool(ex.request_body or "?" in ex.url or ex.method in ("POST", "PUT", "PATCH")
                    or any(m.from_client and m.content for m in ex.messages)
                    or _custom_headers(ex))

    @property
    def collects(self) -> bool:
        return self.cls in COLLECTING and self.has_payload


def _custom_headers(ex: Exchange) -> bool:
    return any(k.lower().startswith("x-") for k, _ in ex.request_headers)


@dataclass
class RunFacts:
    scenario: str
    run: str
    variant: str
    same_home_as: str
    exchanges: list[ExchangeFacts]
    events: list[dict]
    notice_time: float | None  # first output line matching the notice, None if never shown
    notice_source: str  # "expect.notice" or "built-in notice patterns"
    has_denied: bool
    capture: str
    twin: str = ""  # machine | user | project: an attribution run, judged by identifier_rules only
    complete: bool = True
    steps: tuple[tuple[str, float, float], ...] = ()  # (name, start, end time) of each step, in order
    stored: list[tuple[str, str]] = field(default_factory=list)  # (~/path, text) of HOME files
    telemetry_hosts: frozenset[str] = frozenset()  # hosts that collect, for SEC-005
    optout_note: str = ""  # the tool's documented opt-out (consent catalog), when consent.denied uses it
    planted: frozenset[str] = frozenset()  # identity keys the sandbox made the program see (machine_id, …)

    @property
    def home(self) -> str:
        """The HOME this run used: runs that share one are one experiment subject."""
        return self.same_home_as or self.run

    def processes_between(self, t0: float, t1: float) -> bool:
        """Did a step start or end between two times? Then what was sent at both came from two
        invocations (a detached sender of one step may still post while the next one runs)."""
        return any(t0 < b < t1 for _, start, end in self.steps for b in (start, end))


def _f(rule: str, run: RunFacts, x: ExchangeFacts | None, detail: str = "", evidence: Evidence | None = None,
       confidence: str = "certain", severity: str = "", variant: str = "") -> Finding:
    ex = x.ex if x else None
    return Finding(rule=rule, title=RULES[rule].title, scenario=run.scenario, variant=variant or run.run,
                   host=ex.host if ex else "", url=ex.url if ex else "", flow=ex.id if ex else "",
                   evidence=evidence, confidence=confidence, severity=severity, detail=detail)


def _first_per_host(xs: list[ExchangeFacts]) -> list[ExchangeFacts]:
    seen, out = set(), []
    for x in sorted(xs, key=lambda x: x.ex.timestamp):
        if x.ex.host not in seen:
            seen.add(x.ex.host)
            out.append(x)
    return out


def _weakest(*confidences: str) -> str:
    return max(confidences, key=CONFIDENCES.index)


def consent_rules(run: RunFacts) -> list[Finding]:
    """Awareness rules of one run: what collects data where the user refused, gave no consent,
    or saw no notice. Twin runs are attribution experiments and are judged elsewhere."""
    variant = variants.get(run.variant)
    if variant is None or run.twin:
        return []
    sent = [x for x in run.exchanges if x.collects]
    out: list[Finding] = []
    if variant.refusal_rule:
        why = variant.refusal_why
        if run.optout_note:  # the documentation promises this refusal works
            why += f"; {run.optout_note} did not hold"
        out += [_f(variant.refusal_rule, run, x, f"{x.ex.method or x.ex.kind} {x.ex.url} {why}; {x.reason}",
                   confidence=x.confidence) for x in _first_per_host(sent)]
    if variant.refuses:
        # A lookup of a host that also serves a legitimate request here (an update check beside
        # the collector) is explained by that request.
        explained = {x.ex.host for x in run.exchanges if x.has_payload and not x.collects}
        silent = [x for x in run.exchanges if not x.has_payload and x.ex.host in run.telemetry_hosts
                  and x.ex.host not in explained]
        out += [_f("SEC-005", run, x, "telemetry host contacted after refusal, no payload seen")
                for x in _first_per_host(silent) if x.ex.host not in {s.ex.host for s in sent}]
    first_run = run.run == run.variant
    if variant.base and first_run:
        for x in _first_per_host(sent):
            sev = "" if run.has_denied else "high"
            how = "" if run.has_denied else "; the scenario declares no way to refuse"
            out.append(_f("CONSENT-003", run, x, f"sent with no consent expressed{how}; {x.reason}",
                          severity=sev, confidence=x.confidence))
    if variant.notice and first_run and sent:
        first = min(sent, key=lambda x: x.ex.timestamp)
        if run.notice_time is None:
            out.append(_f("CONSENT-004", run, first, f"no notice was printed ({run.notice_source})",
                          confidence=_weakest(first.confidence, "certain" if run.notice_source == "expect.notice"
                                              else "likely")))
        elif first.ex.timestamp < run.notice_time:
            out.append(_f("CONSENT-004", run, first,
                          f"sent {run.notice_time - first.ex.timestamp:.2f} s before the notice appeared",
                          confidence=first.confidence))
    return out


def evidence_rules(run: RunFacts) -> list[Finding]:
    out = []
    if run.twin:  # the same program as the base run: its evidence is the base run's
        return out
    for x in run.exchanges:
        for ev in x.evidence:
            if ev.detector == "canary":
                rule = (DIGEST_RULE if ev.is_digest else PLAIN_RULE)[ev.category or category(ev.match)]
            else:  # a KeyError here is a detector that declared no category: a bug, never CONF-002
                rule = HEURISTIC_RULE[ev.category]
            out.append(_f(rule, run, x, f"{ev.match} found as {ev.form} at {ev.location}",
                          evidence=ev, confidence=ev.confidence))
    return out


def security_rules(run: RunFacts) -> list[Finding]:
    out = []
    if run.twin:
        return out
    plain = [x for x in run.exchanges if x.ex.plaintext and x.has_payload]
    for x in _first_per_host(plain):
        out.append(_f("SEC-001", run, x, f"{x.ex.scheme}:// traffic carrying data, readable on the path"))
    fetch = [x for x in run.exchanges if x.ex.scheme == "http" and x.ex.method == "GET"
             and CODE_PATH.search(x.ex.path.split("?", 1)[0])]
    out += [_f("SEC-003", run, x, f"fetched {x.ex.url} over plain HTTP") for x in _first_per_host(fetch)]
    if run.variant == "untrusted-ca":
        accepted = [x for x in run.exchanges if x.ex.tls and not x.ex.error and (
                    x.ex.kind in ("http", "websocket")
                    or (x.ex.kind == "tcp" and any(m.from_client and m.content for m in x.ex.messages)))]
        out += [_f("SEC-002", run, x, "the client completed TLS with a certificate it was never told to trust")
                for x in _first_per_host(accepted)]
    else:
        seen = set()
        decrypted = {x.ex.host for x in run.exchanges if x.ex.tls and not x.ex.error}
        for e in run.events:
            if e.get("event") == "tls-failed-client":
                host = e.get("sni") or e.get("name") or (e.get("server") or ["?"])[0]
                # "Disconnected during the handshake" is also what a program that simply exits
                # mid-handshake looks like; when the same client decrypted fine to that host in
                # this run, it trusted the CA. An explicit "does not trust" stays certain.
                if host in seen or ("disconnected during the handshake" in e.get("error", "")
                                    and host in decrypted):
                    continue
                seen.add(host)
                out.append(Finding(rule="SEC-004", title=RULES["SEC-004"].title, scenario=run.scenario,
                                   variant=run.run, host=str(host), url=f"tls://{host}",
                                   detail="the client refused the audit CA (pinning or own trust store): "
                                          "the content of this connection was not inspected",
                                   confidence="certain"))
    # Bypass and uninspectable-egress findings are security findings of the same run; their ids
    # differ from all of the above, so a caller that also invokes them directly gets no duplicates.
    return out + bypass_rules(run) + uninspected_rules(run)


def bypass_rules(run: RunFacts) -> list[Finding]:
    """SEC-006: what the proxy-mode syscall witness saw leave without the proxy (`direct` events)."""
    out, seen = [], set()
    for e in run.events:
        if e.get("event") != "direct":
            continue
        name = e.get("dns_name") or ""
        if e.get("family") == "unix":
            host, url = "", f"unix://{e.get('path', '')}"
            what = f"asked the host resolver daemon at {e.get('path')} to look up names"
        elif name:
            host, url = name, f"dns://{name}"
            what = f"looked up {name} itself (DNS to {e.get('address')}:{e.get('port')})"
        else:
            host = str(e.get("address", ""))
            where = f"[{host}]" if ":" in host else host
            url = f"{e.get('transport') or 'ip'}://{where}:{e.get('port')}"
            what = f"{e.get('syscall')}() to {where}:{e.get('port')} ({e.get('result')})"
            if e.get("port") == 53:
                what += ", a DNS resolver of its own: the names it looks up leave the machine"
        if url in seen:
            continue
        seen.add(url)
        out.append(Finding(rule="SEC-006", title=RULES["SEC-006"].title, scenario=run.scenario,
                           variant=run.run, host=host, url=url, confidence="certain",
                           detail=f"{e.get('process') or 'a process'} (pid {e.get('pid')}) {what}, "
                                  "bypassing the proxy: neither recorded nor blocked — audit with "
                                  "--capture tun to see it"))
    return out


QUIC_VERSIONS = {0x00000001, 0x6B3343CF, 0x709A50C4, 0x51303433, 0x51303436, 0x51303530}


def _looks_like_quic(data: bytes) -> bool:
    """A QUIC long-header packet (the handshake) of a known version."""
    return len(data) >= 7 and data[0] & 0xC0 == 0xC0 and int.from_bytes(data[1:5], "big") in QUIC_VERSIONS


def _opaque(data: bytes) -> bool:
    """Binary with near-maximal entropy: encrypted or compressed by the program itself."""
    if len(data) < 32:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in data) / len(data)
    counts = Counter(data)
    entropy = -sum(c / len(data) * math.log2(c / len(data)) for c in counts.values())
    return printable < 0.75 and entropy >= 0.85 * min(8.0, math.log2(len(data)))


def uninspected_rules(run: RunFacts) -> list[Finding]:
    """SEC-004 for recorded streams whose content the audit could not read: QUIC that was not
    decrypted, and raw TCP/UDP payloads that are opaque (the program's own encryption)."""
    out, seen = [], set()
    for x in sorted(run.exchanges, key=lambda x: x.ex.timestamp):
        ex = x.ex
        if ex.kind not in ("tcp", "udp"):
            continue
        sent = b"".join(m.content for m in ex.messages if m.from_client)
        first = next((m.content for m in ex.messages if m.from_client), b"")
        if ex.kind == "udp" and _looks_like_quic(first):
            why = "QUIC was not decrypted: the content of this connection was not inspected"
            confidence = "certain"
        elif _opaque(sent):
            why = (f"{len(sent)} bytes of opaque binary ({'inside TLS' if ex.tls else 'raw'} "
                   f"{ex.kind}): encrypted or compressed by the program, not inspectable")
            confidence = "likely"
        else:
            continue
        if ex.host in seen:
            continue
        seen.add(ex.host)
        out.append(_f("SEC-004", run, x, why, confidence=confidence))
    return out


# What an identifier follows -> (rule, category, why). Only what follows the machine or the person
# tracks a person across installs; what follows the project is the project in disguise.
ATTRIBUTION = {
    "machine": ("PRIV-003", "personal", "changes with the machine (machine-id, host name, MAC): a machine fingerprint"),
    "user": ("PRIV-003", "personal", "changes with the user (name, email, HOME): it follows the person"),
    "project": ("CONF-003", "confidential", "changes with the project (path, name, git remote, root commit): "
                "a project fingerprint, confidential project data in disguise"),
}


def identifier_rules(verdicts: list[Verdict]) -> list[Finding]:
    """PRIV-003 / PRIV-004 / CONF-003 from what each sent identifier was seen to follow."""
    out = []
    for v in verdicts:
        if v.kind in ATTRIBUTION:
            rule, cat, why = ATTRIBUTION[v.kind]
            detail = f"identical in {v.homes} fresh HOMEs; {why}"
            if v.follows[1:]:
                detail += f" (also changes with: {', '.join(v.follows[1:])})"
        elif v.kind == "stable":
            rule, cat = "PRIV-003", "personal"
            detail = (f"identical in {v.homes} fresh HOMEs: derived from the machine or the person, or a constant of "
                      f"the program — not attributed: {v.detail}")
        elif v.kind == "stored":
            rule, cat = "PRIV-004", "personal"
            detail = f"{v.detail}: a tracking id stored on disk"
        else:
            continue
        if v.stored_in and v.kind != "stored":
            detail += f"; stored in {', '.join(v.stored_in[:3])}"
        ev = Evidence(detector="stability", match="identifier", location=v.location, form="plain",
                      excerpt=redact(v.value, 4), value_digest=digest(v.value), confidence=v.confidence,
                      category=cat)
        out.append(_f(rule, v.run, v.x, detail, evidence=ev, confidence=v.confidence, variant=v.run.run))
    return out


def egress_rules(runs: list[RunFacts]) -> list[Finding]:
    """EGRESS-001 once per scenario and host that received a request the scenario does not declare
    (expect.telemetry, expect.functional, network.allow)."""
    out, seen = [], set()
    for r in runs:
        for x in r.exchanges:
            key = (r.scenario, x.ex.host)
            if key in seen or x.declared or not x.ex.host:
                continue
            seen.add(key)
            out.append(_f("EGRESS-001", r, x, f"{x.ex.host} is not declared (expect.telemetry, expect.functional, "
                                              f"network.allow); {x.cls}: {x.reason}", variant="all"))
    return out


def unanalysed_rules(run: RunFacts) -> list[Finding]:
    """SEC-004 for exchanges the analysis did not inspect completely (a decoding limit, a budget,
    an analysis error): one per host and path, naming the first reason. What lies past a limit
    was not looked at, so it must never pass for clean (the run is also marked incomplete)."""
    out, seen = [], set()
    for x in run.exchanges:
        if not x.uninspected or (x.ex.host, x.ex.path) in seen:
            continue
        seen.add((x.ex.host, x.ex.path))
        more = f" (+{len(x.uninspected) - 1} more)" if len(x.uninspected) > 1 else ""
        ev = Evidence(detector="analysis", match="analysis-limit", location="", confidence="certain")
        out.append(_f("SEC-004", run, x, f"not fully inspected: {x.uninspected[0]}{more}", evidence=ev))
    return out
