"""Evidence and cross-variant facts → findings (the rule table of SPEC §7)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from .findings import Evidence, Finding, RULES, digest, redact
from .flowstore import Exchange
from .identity import category
from .policy import is_allowed

CODE_PATH = re.compile(r"\.(js|mjs|py|sh|ps1|json|ya?ml|toml|xml|whl|tgz|tar\.gz|zip|jar|exe|"
                       r"deb|rpm|conf|cfg|ini)$|/(update|config|install|download|manifest)", re.I)
# Category (declared by the detector) -> rule. A planted value is known data: plain or digest.
DIGEST_RULE = {"personal": "PRIV-002", "confidential": "CONF-003", "credential": "CONF-002"}
PLAIN_RULE = {"personal": "PRIV-001", "confidential": "CONF-001", "credential": "CONF-002"}
# A heuristic hit is probable data; a confidential one is a guessed digest of a planted value.
HEURISTIC_RULE = {"personal": "PRIV-005", "confidential": "CONF-003", "credential": "CONF-002"}


@dataclass
class ExchangeFacts:
    ex: Exchange
    cls: str  # telemetry | functional | unknown
    reason: str
    evidence: list[Evidence]
    identifiers: dict[str, str] = field(default_factory=dict)  # location -> id-like value
    # Why part of this exchange was not inspected (analysis limits, an analysis error): SEC-004,
    # and the run is incomplete.
    uninspected: tuple[str, ...] = ()

    @property
    def has_payload(self) -> bool:
        ex = self.ex
        if ex.kind == "dns":
            return False
        return bool(ex.request_body or "?" in ex.url or ex.method in ("POST", "PUT", "PATCH")
                    or any(m.from_client and m.content for m in ex.messages)
                    or _custom_headers(ex))


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
    notice_source: str  # "expect.notice" or "heuristic"
    has_denied: bool
    capture: str


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


def consent_rules(run: RunFacts) -> list[Finding]:
    sent = [x for x in run.exchanges if x.cls == "telemetry" and x.has_payload]
    out: list[Finding] = []
    per_variant = {"denied": ("CONSENT-001", "sent although the user refused"),
                   "dnt": ("CONSENT-002", "sent with DO_NOT_TRACK=1 set"),
                   "ci": ("CONSENT-005", "sent by an automated CI run that gave no consent")}
    if run.variant in per_variant:
        rule, why = per_variant[run.variant]
        out += [_f(rule, run, x, f"{x.ex.method or x.ex.kind} {x.ex.url} {why} ({x.reason})")
                for x in _first_per_host(sent)]
    if run.variant == "denied":
        silent = [x for x in run.exchanges if x.cls == "telemetry" and not x.has_payload]
        out += [_f("SEC-005", run, x, "telemetry host contacted after refusal, no payload seen")
                for x in _first_per_host(silent) if x.ex.host not in {s.ex.host for s in sent}]
    if run.variant == "unset" and run.run == "unset":
        for x in _first_per_host(sent):
            sev = "" if run.has_denied else "high"
            how = "" if run.has_denied else "; the scenario declares no way to refuse"
            out.append(_f("CONSENT-003", run, x, f"sent with no consent expressed{how}", severity=sev))
    if run.variant in ("unset", "tty") and run.run in ("unset", "tty") and sent:
        first = min(sent, key=lambda x: x.ex.timestamp)
        if run.notice_time is None:
            out.append(_f("CONSENT-004", run, first, f"no notice was printed ({run.notice_source})",
                          confidence="certain" if run.notice_source == "expect.notice" else "likely"))
        elif first.ex.timestamp < run.notice_time:
            out.append(_f("CONSENT-004", run, first,
                          f"sent {run.notice_time - first.ex.timestamp:.2f} s before the notice appeared"))
    return out


def evidence_rules(run: RunFacts) -> list[Finding]:
    out = []
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


def identifier_rules(runs: list[RunFacts]) -> list[Finding]:
    """PRIV-003/004 from the same field across the repeated unset runs."""
    unset = [r for r in runs if r.variant == "unset"]
    fresh = [r for r in unset if not r.same_home_as]
    rerun = [r for r in unset if r.same_home_as]
    if len(fresh) < 2 and not rerun:
        return []

    def ids(r: RunFacts) -> dict[tuple[str, str], tuple[str, ExchangeFacts]]:
        out = {}
        for x in r.exchanges:
            if x.cls == "functional":
                continue
            for loc, value in x.identifiers.items():
                out.setdefault((x.ex.host, loc), (value, x))
        return out

    fresh_ids = [ids(r) for r in fresh]
    out: list[Finding] = []
    reported = set()
    if len(fresh_ids) >= 2:
        for key, (value, x) in fresh_ids[0].items():
            if all(key in other and other[key][0] == value for other in fresh_ids[1:]):
                reported.add(key)
                out.append(_fp("PRIV-003", fresh[0], x, key[1], value,
                               f"identical in {len(fresh)} runs with fresh HOMEs: derived from the machine"))
    if rerun:
        first = next((i for r, i in zip(fresh, fresh_ids) if r.run == rerun[0].same_home_as), None)
        again = ids(rerun[0])
        for key, (value, x) in (first or {}).items():
            if key in reported or key not in again or again[key][0] != value:
                continue
            changes = any(key in o and o[key][0] != value for o in fresh_ids[1:])
            if changes or len(fresh_ids) < 2:
                out.append(_fp("PRIV-004", fresh[0], x, key[1], value,
                               "same value when the HOME is kept, new value with a fresh HOME: "
                               "a tracking id stored on disk"))
    return out


def _fp(rule: str, run: RunFacts, x: ExchangeFacts, location: str, value: str, why: str) -> Finding:
    ev = Evidence(detector="stability", match="identifier", location=location, form="plain",
                  excerpt=redact(value, 4), value_digest=digest(value), confidence="likely")
    return _f(rule, run, x, why, evidence=ev, confidence="likely", variant="unset")


def egress_rules(runs: list[RunFacts], declared: dict[str, tuple[str, ...]]) -> list[Finding]:
    """EGRESS-001 once per scenario and undeclared host."""
    out, seen = [], set()
    for r in runs:
        for x in r.exchanges:
            key = (r.scenario, x.ex.host)
            if key in seen or x.cls == "functional" or not x.ex.host:
                continue
            if is_allowed(x.ex.host, declared.get(r.scenario, ())):
                continue
            seen.add(key)
            out.append(_f("EGRESS-001", r, x, f"{x.ex.host} is neither in expect.telemetry nor network.allow",
                          variant="all"))
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
