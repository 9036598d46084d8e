"""Evidence, findings, the rule table (SPEC §7), stable fingerprints, grouping and redaction.

Findings never carry a full canary or secret value: only a masked excerpt and a digest, the way
detect-secrets' PotentialSecret stores a hashed secret.

A finding's id is built from what stays the same when the same program is audited again, on another
machine, with another canary identity or in another shard: never the variant, the run, a flow id, a
port, a time or the random canary value (a canary is identified by its identity key and form).
The same fact seen in several runs is one finding listing them (`group`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import Iterable

from . import variants

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # info=0 … critical=4
CONFIDENCES = ("certain", "likely", "possible")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    concern: str
    title: str
    precision: str = "high"  # SARIF precision: how often a finding of this rule is right (very-high … low)
    fix: str = ""  # what the software should do instead, and what a user can do meanwhile


_RULES = (
    Rule("CONSENT-001", "critical", "awareness", "Telemetry sent after the user refused", "high",
         "Read the refusal before any telemetry code runs, including detached background senders, "
         "error reporters and first-run hooks, and send nothing to telemetry hosts once the user said "
         "no. Until the software is fixed, block the host at the egress firewall."),
    Rule("CONSENT-002", "high", "awareness", "DO_NOT_TRACK=1 ignored", "high",
         "Treat `DO_NOT_TRACK=1` as a refusal, exactly like the software's own opt-out."),
    Rule("CONSENT-003", "medium", "awareness", "Telemetry on by default (opt-out)", "high",
         "Ask before collecting (opt-in), or at least show a notice and offer a documented way to "
         "refuse before the first event. Declare that way in the scenario's `consent.denied`."),
    Rule("CONSENT-004", "high", "awareness", "Telemetry before any notice, or with no notice at all", "medium",
         "Print the notice, and record the answer, before the first event leaves: not after the "
         "command and not only in the documentation. Put the notice's wording in the scenario's "
         "`expect.notice` so the audit recognises it."),
    Rule("CONSENT-005", "high", "awareness", "Automated (CI) run sends telemetry without consent", "high",
         "Detect automated runs (`CI=true` and the CI providers' variables) and send nothing there "
         "without explicit consent: nobody reads a notice in a CI log."),
    Rule("PRIV-001", "critical", "privacy", "Known personal data sent", "very-high",
         "Do not send the value. If an identifier is needed, send a random per-install id that the "
         "user can reset, never a user name, e-mail address, home path or machine value."),
    Rule("PRIV-002", "high", "privacy", "Known personal data sent as an unsalted digest", "very-high",
         "An unsalted hash of a known value is reversed by a lookup and links records across "
         "services. Send nothing, a random install id, or an HMAC keyed with a per-install secret "
         "that never leaves the machine."),
    Rule("PRIV-003", "high", "privacy", "Machine fingerprint: identifier identical across fresh HOMEs", "high",
         "An identifier derived from the machine follows the person across installs and accounts. "
         "Use a random id kept in the user's configuration (gone with it, resettable), or none."),
    Rule("PRIV-004", "medium", "privacy", "Persistent tracking identifier", "high",
         "Document the stored id, let the user reset or delete it, and never send it after a refusal."),
    Rule("PRIV-005", "medium", "privacy", "Probable personal data found heuristically", "medium",
         "Check the field named in the finding and drop or anonymise it before sending. The match is "
         "heuristic: if the value is not personal data, accept it with `egress-audit baseline`."),
    Rule("CONF-001", "high", "confidentiality", "Business-confidential data sent", "very-high",
         "Project paths and names, git remotes, internal host names and CI repositories tell "
         "outsiders what an organisation works on. Do not send them; if a project id is needed, use "
         "an HMAC keyed with a per-install secret."),
    Rule("CONF-002", "critical", "confidentiality", "Credential sent", "very-high",
         "Never read credentials the software does not need, and never include the environment or "
         "configuration files in error reports. A real credential sent this way must be rotated."),
    Rule("CONF-003", "medium", "confidentiality", "Confidential data sent as an unsalted digest", "high",
         "An unsalted hash of a path, remote or host name is reversed by guessing. Use an HMAC keyed "
         "with a per-install secret, or send nothing."),
    Rule("SEC-001", "high", "security", "Data sent in plaintext", "very-high",
         "Use https:// (TLS) for every request that carries data: plaintext can be read and changed "
         "by anyone on the path."),
    Rule("SEC-002", "critical", "security", "Client accepts an untrusted TLS certificate", "very-high",
         "Verify certificates (no `verify=False`, unverified SSL contexts or "
         "`NODE_TLS_REJECT_UNAUTHORIZED=0`); trust the system store or a configured CA bundle instead."),
    Rule("SEC-003", "high", "security", "Code or configuration fetched over an insecure channel", "high",
         "Fetch code, updates and configuration over https:// and verify a signature or checksum "
         "before using them."),
    Rule("SEC-004", "medium", "security", "Egress the audit could not inspect", "high",
         "The audit could not read this traffic (certificate pinning, QUIC, the program's own "
         "encryption). Review what it carries another way, or audit a build that trusts a test CA."),
    Rule("SEC-005", "low", "security", "Telemetry host contacted after refusal, with no payload", "high",
         "After a refusal, do not contact the telemetry host at all: a connection alone tells it the "
         "user's address and when the software was used."),
    Rule("SEC-006", "high", "security", "Direct connection bypassing the proxy", "very-high",
         "Part of the software ignores the proxy settings. Audit with `--capture tun` to see what it "
         "sends, and ask upstream to honour `HTTPS_PROXY`."),
    Rule("EGRESS-001", "info", "awareness", "Endpoint not declared by the scenario", "very-high",
         "Find out what the host is for, then declare it: `expect.telemetry` for telemetry, "
         "`network.allow` for what the software needs to work, or a policy file's `allow`."),
)
RULES: dict[str, Rule] = {r.id: r for r in _RULES}


@dataclass(frozen=True)
class Evidence:
    """Where in a flow a detector saw something, and how it was encoded there."""

    detector: str  # "canary", "email", "credential", …
    match: str  # identity key ("hostname") or heuristic kind ("email", "aws-access-key")
    location: str  # "body:$.batch[0].host", "query:uid", "header:user-agent", "url"
    layers: tuple[str, ...] = ()  # decoding chain, outermost first: ("gzip", "json", "base64")
    form: str = "plain"  # how the value appears: plain, url, base64, hex, md5, sha256, …
    excerpt: str = ""  # masked; never the full value
    value_digest: str = ""  # sha256 of the matched value: stable identity without the value
    confidence: str = "certain"
    # personal | confidential | credential: declared by the detector, mapped to a rule by rules.py
    # (never inferred from `match`, so a new detector cannot fall through to the wrong rule).
    category: str = ""
    # The decoded text around the match, (before, after), every known value in it masked and every
    # encoded run shown as a placeholder: for the report's payload view only (not written to JSON,
    # not part of the id).
    context: tuple[str, str] = ()

    @property
    def is_digest(self) -> bool:
        return re.split(r"[-:]", self.form, maxsplit=1)[0] in ("md5", "sha1", "sha256", "sha512")

    def to_json(self) -> dict:
        return {"location": self.location, "layers": list(self.layers), "match": self.match,
                "form": self.form, "excerpt": self.excerpt, "detector": self.detector,
                "category": self.category}


@dataclass(frozen=True)
class Finding:
    rule: str
    title: str
    scenario: str
    variant: str  # the run that shows it (the first of `variants` in variant order)
    host: str = ""
    url: str = ""
    flow: str = ""
    evidence: Evidence | None = None
    confidence: str = "certain"
    severity: str = ""  # defaults to the rule's; policy may override
    detail: str = ""
    baselined: bool = False
    id: str = field(default="")
    variants: tuple[str, ...] = ()  # every run it was seen in; () until grouped: just `variant`
    step: str = ""  # the scenario step during which the request left, when known

    def __post_init__(self):
        rule = RULES[self.rule]
        if not self.severity:
            object.__setattr__(self, "severity", rule.severity)
        if not self.id:
            object.__setattr__(self, "id", fingerprint(self))

    @property
    def concern(self) -> str:
        return RULES[self.rule].concern

    @property
    def runs(self) -> tuple[str, ...]:
        return self.variants or (self.variant,)

    def with_(self, **changes) -> "Finding":
        return replace(self, **changes)

    def to_json(self) -> dict:
        return {"id": self.id, "rule": self.rule, "severity": self.severity,
                "concern": self.concern, "title": self.title, "scenario": self.scenario,
                "variant": self.variant, "variants": list(self.runs), "step": self.step,
                "host": self.host, "url": self.url, "flow": self.flow,
                "evidence": self.evidence.to_json() if self.evidence else None,
                "confidence": self.confidence, "detail": self.detail, "baselined": self.baselined}


# ---- identity ------------------------------------------------------------------------------------

# Built-in variants in the order a reader compares them: no consent, refusal, then the rest.
VARIANT_ORDER = variants.NAMES


def run_key(name: str) -> tuple:
    """unset, unset-2, …, unset-10, its twins, denied, …; unknown names after the built-in variants."""
    base, n = name, 1
    head, sep, tail = name.rpartition("-")
    if sep and tail.isdigit():
        base, n = head, int(tail)
    elif "-twin-" in name:  # identity twins of the base variant, after its repeats
        base, n = name.split("-twin-")[0], 1000
    rank = VARIANT_ORDER.index(base) if base in VARIANT_ORDER else len(VARIANT_ORDER)
    return (rank, base, n, name)


_HEX = re.compile(r"^[0-9a-fA-F]{16,128}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


def looks_like_id(text: str) -> bool:
    """Random-looking identifiers: hex digests, UUIDs, long mixed tokens (not words or versions)."""
    text = text.strip()
    if _HEX.match(text) or _UUID.match(text):
        return len(set(text.lower())) >= 8
    if _TOKEN.match(text):
        kinds = sum(any(f(c) for c in text) for f in (str.isdigit, str.islower, str.isupper))
        return kinds == 3 and len(set(text)) >= 12
    return False


def _path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path.split("?", 1)[0].split("#", 1)[0]


_INDEX = re.compile(r"\[\d+\]")  # array and NDJSON line indices shift between runs
_NUMBER = re.compile(r"^\d{5,}$")  # timestamps, counters, sequence numbers
_TOKENS = re.compile(r"[^/.\[\]:\"'$=&{}]+")
# capture.SYNTHETIC_NET: the tun sandbox answers DNS with addresses from this range, handed out in
# the order names are asked for, so an address seen instead of a name differs between audits.
SYNTHETIC_NET = ipaddress.ip_network("198.18.0.0/15")


def _stable_token(m: re.Match) -> str:
    token = m.group()
    if looks_like_id(token):
        return "{id}"
    return "{n}" if _NUMBER.match(token) else token


def stable_text(text: str) -> str:
    """A path or location with what differs between runs (ids, long numbers, array slots) generic.

    Canary values are replaced by `{key}` before this (analysis does it by span, with the matcher
    that found them), so what is left to vary is what the program itself randomises per run."""
    return _TOKENS.sub(_stable_token, _INDEX.sub("[*]", text))


def stable_host(host: str) -> str:
    host = host.lower().rstrip(".")
    try:
        if ipaddress.ip_address(host.strip("[]")) in SYNTHETIC_NET:
            return "{synthetic-address}"
    except ValueError:
        pass
    return host


# Heuristic kinds whose value belongs to the machine, its network or one session rather than to
# what the program chose to send: the same program on another runner sends another value.
ENVIRONMENT_KINDS = frozenset({"ipv4-public", "ipv6-public", "mac", "geo", "jwt"})


def value_identifies(ev: Evidence) -> bool:
    """Whether the matched value belongs in the id: only for a heuristic match of content the
    program chose (an e-mail address, a phone number, a credential recognised by its format). A
    canary (planted, random per audit), a digest of one, or an identifier compared across runs is
    identified by its key and location instead: so is anything a future detector reports, until it
    says otherwise here."""
    return (ev.detector == "heuristic" and not ev.match.startswith("digest-of:")
            and ev.match not in ENVIRONMENT_KINDS)


def fingerprint(f: Finding) -> str:
    """Identity from stable fields only: rule, scenario, host, URL path, evidence location, what
    matched and in which form, and a value digest only where value_identifies says so. Never the
    variant or run, times, ports, flow ids, or a canary's value."""
    ev = f.evidence
    parts = [f.rule, f.scenario, stable_host(f.host), stable_text(_path_of(f.url)) if f.url else ""]
    if ev:
        parts += [stable_text(ev.location), ev.match, ev.form,
                  ev.value_digest if value_identifies(ev) else ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


_CONFIDENCE_RANK = {c: i for i, c in enumerate(CONFIDENCES)}


def group(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per id: the same fact seen in several runs becomes one finding listing them.

    The representative is the one from the first run in variant order (a consent rule only ever
    fires in the variant that proves it, so it keeps that variant); severity and confidence are the
    highest seen."""
    by_id: dict[str, list[Finding]] = {}
    for f in findings:
        by_id.setdefault(f.id, []).append(f)
    out = []
    for same in by_id.values():
        same.sort(key=lambda f: run_key(f.variant))
        first = same[0]
        runs = tuple(sorted({r for f in same for r in f.runs}, key=run_key))
        severity = max((f.severity for f in same), key=SEVERITY_RANK.__getitem__)
        confidence = min((f.confidence for f in same), key=lambda c: _CONFIDENCE_RANK.get(c, 99))
        out.append(first.with_(variants=runs, severity=severity, confidence=confidence))
    return out


def digest(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def redact(value: str, keep: int = 3) -> str:
    """Mask a sensitive value: a short prefix and stars, never enough to recover it."""
    if not value:
        return ""
    keep = min(keep, max(0, len(value) // 4))
    return value[:keep] + "***"


def mask_in(text: str, secret: str, keep: int = 3) -> str:
    """Mask every occurrence of secret inside text (case-insensitive)."""
    if not secret:
        return text
    lower, needle = text.lower(), secret.lower()
    out, i = [], 0
    while True:
        j = lower.find(needle, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        out.append(redact(text[j:j + len(secret)], keep))
        i = j + len(secret)
