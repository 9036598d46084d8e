"""Evidence, findings, the rule table (SPEC §7), stable fingerprints and redaction.

Findings never carry a full canary or secret value: only a masked excerpt and a digest, the way
detect-secrets' PotentialSecret stores a hashed secret.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # info=0 … critical=4
CONFIDENCES = ("certain", "likely", "possible")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    concern: str
    title: str


_RULES = (
    Rule("CONSENT-001", "critical", "awareness", "Telemetry sent after the user refused"),
    Rule("CONSENT-002", "high", "awareness", "DO_NOT_TRACK=1 ignored"),
    Rule("CONSENT-003", "medium", "awareness", "Telemetry on by default (opt-out)"),
    Rule("CONSENT-004", "high", "awareness", "Telemetry before any notice, or with no notice at all"),
    Rule("CONSENT-005", "high", "awareness", "Automated (CI) run sends telemetry without consent"),
    Rule("PRIV-001", "critical", "privacy", "Known personal data sent"),
    Rule("PRIV-002", "high", "privacy", "Known personal data sent as an unsalted digest"),
    Rule("PRIV-003", "high", "privacy", "Machine fingerprint: identifier identical across fresh HOMEs"),
    Rule("PRIV-004", "medium", "privacy", "Persistent tracking identifier"),
    Rule("PRIV-005", "medium", "privacy", "Probable personal data found heuristically"),
    Rule("CONF-001", "high", "confidentiality", "Business-confidential data sent"),
    Rule("CONF-002", "critical", "confidentiality", "Credential sent"),
    Rule("CONF-003", "medium", "confidentiality", "Confidential data sent as an unsalted digest"),
    Rule("SEC-001", "high", "security", "Data sent in plaintext"),
    Rule("SEC-002", "critical", "security", "Client accepts an untrusted TLS certificate"),
    Rule("SEC-003", "high", "security", "Code or configuration fetched over an insecure channel"),
    Rule("SEC-004", "medium", "security", "Egress the audit could not inspect"),
    Rule("SEC-005", "low", "security", "Telemetry host contacted after refusal, with no payload"),
    Rule("SEC-006", "high", "security", "Direct connection bypassing the proxy"),
    Rule("EGRESS-001", "info", "awareness", "Endpoint not declared by the scenario"),
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
    variant: str
    host: str = ""
    url: str = ""
    flow: str = ""
    evidence: Evidence | None = None
    confidence: str = "certain"
    severity: str = ""  # defaults to the rule's; policy may override
    detail: str = ""
    baselined: bool = False
    id: str = field(default="")

    def __post_init__(self):
        rule = RULES[self.rule]
        if not self.severity:
            object.__setattr__(self, "severity", rule.severity)
        if not self.id:
            object.__setattr__(self, "id", fingerprint(self))

    @property
    def concern(self) -> str:
        return RULES[self.rule].concern

    def with_(self, **changes) -> "Finding":
        return replace(self, **changes)

    def to_json(self) -> dict:
        return {"id": self.id, "rule": self.rule, "severity": self.severity,
                "concern": self.concern, "title": self.title, "scenario": self.scenario,
                "variant": self.variant, "host": self.host, "url": self.url, "flow": self.flow,
                "evidence": self.evidence.to_json() if self.evidence else None,
                "confidence": self.confidence, "detail": self.detail, "baselined": self.baselined}


def _path_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path.split("?", 1)[0]


_INDEX = re.compile(r"\[\d+\]")  # array and NDJSON line indices shift between runs


def fingerprint(f: Finding) -> str:
    """Identity from stable fields only: never times, ports, flow ids or repeat numbers."""
    ev = f.evidence
    parts = [f.rule, f.scenario, f.variant.split("-")[0] if f.variant[-1:].isdigit() else f.variant,
             f.host, _path_of(f.url) if f.url else "",
             _INDEX.sub("[*]", ev.location) if ev else "", ev.match if ev else "",
             ev.value_digest if ev else ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


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
