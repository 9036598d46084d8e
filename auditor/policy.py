"""Allowlists, symbolic registry sources, policy overrides and baselines.

Filters are pure predicates. Registry host names are never written down here: they are read at run
time from the user's own pip and npm configuration, so mirrors and private indexes just work.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlsplit

import yaml

from . import outfiles, yamlsafe
from .errors import UsageError
from .findings import RULES, SEVERITIES, Finding


def host_of(pattern: str) -> str:
    return pattern.split("/", 1)[0].lower()


def is_allowed(host: str, patterns: Sequence[str]) -> bool:
    """True if host matches a name or a `*.`-glob (subdomains only) in patterns."""
    host = host.lower().rstrip(".")
    for p in patterns:
        p = host_of(p)
        if p.startswith("*."):
            if host.endswith(p[1:]) and host != p[2:]:
                return True
        elif host == p:
            return True
    return False


def matches_endpoint(host: str, path: str, patterns: Sequence[str]) -> bool:
    """True if host (and path, for host/path globs) matches a declared endpoint pattern."""
    for p in patterns:
        phost, _, ppath = p.partition("/")
        if not is_allowed(host, [phost]):
            continue
        if not ppath or fnmatch.fnmatchcase(path.split("?", 1)[0].lstrip("/"), ppath):
            return True
    return False


# ---- symbolic sources -----------------------------------------------------------------------

def _url_hosts(urls: Iterable[str]) -> list[str]:
    hosts = []
    for u in urls:
        parts = urlsplit(u.strip())
        if parts.scheme in ("http", "https") and parts.hostname:
            hosts.append(parts.hostname.lower())
    return hosts


def pip_index_hosts() -> list[str]:
    """Index and file hosts pip would use: config files, PIP_* variables, pip's built-in default."""
    urls: list[str] = []
    try:
        from pip._internal.models.index import PyPI  # pip's own default, not a name we write

        urls += [PyPI.url, f"https://{PyPI.file_storage_domain}/"]
    except Exception:
        pass
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                             text=True, timeout=30, env={**os.environ, "PIP_NO_INPUT": "1"}).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        if name in ("index-url", "extra-index-url", "find-links"):
            urls += value.strip().strip("'\"").split()
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        urls += os.environ.get(var, "").split()
    return sorted(set(_url_hosts(urls)))


def npm_registry_hosts() -> list[str]:
    npm = shutil.which("npm")
    urls = []
    if os.environ.get("npm_config_registry"):
        urls.append(os.environ["npm_config_registry"])
    if npm:
        try:
            out = subprocess.run([npm, "config", "get", "registry"], capture_output=True,
                                 text=True, timeout=60).stdout
            urls.append(out.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    return sorted(set(_url_hosts(urls)))


SOURCES = {"@pip-index": pip_index_hosts, "@npm-registry": npm_registry_hosts}


def resolve_allow(patterns: Sequence[str], cache: dict[str, list[str]] | None = None) -> tuple[str, ...]:
    """Expand @sources into host names; keep names and globs as they are."""
    cache = {} if cache is None else cache
    out: list[str] = []
    for p in patterns:
        if p in SOURCES:
            if p not in cache:
                cache[p] = SOURCES[p]()
            out += cache[p]
        else:
            out.append(host_of(p))
    return tuple(dict.fromkeys(out))


def firewall_entries(endpoints: Iterable) -> list[str]:
    """host:port of every connection the audit let through to a functional endpoint (package
    registries, mirrors): what an egress firewall must allow for the install and first use to work.
    Telemetry and unknown hosts were sinkholed by the audit and are never listed, even when the
    software reached them; so is a port it only used towards the sinkhole."""
    out = set()
    for e in endpoints:
        if e.cls == "functional" and e.host:
            out.update(f"{e.host}:{port}" for _, port in e.forwarded)
    return sorted(out)


# ---- policy file and baseline -----------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    allow: tuple[str, ...] = ()  # extra endpoints not to report as EGRESS-001 and to forward
    severities: dict[str, str] = field(default_factory=dict)  # rule id -> severity
    ignore_rules: tuple[str, ...] = ()


def load_policy(path: str | Path | None) -> Policy:
    if not path:
        return Policy()
    try:
        data = yamlsafe.load(Path(path).read_text(encoding="utf-8"), str(path)) or {}
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"{path}: cannot read policy: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping with keys allow, severities, ignore")
    for key in data:
        if key not in ("allow", "severities", "ignore"):
            raise UsageError(f"{path}: {key}: unknown key (expected allow, severities, ignore)")
    allow = data.get("allow", [])
    sev = data.get("severities", {})
    ignore = data.get("ignore", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise UsageError(f"{path}: allow: expected a list of host names")
    if not isinstance(sev, dict):
        raise UsageError(f"{path}: severities: expected a mapping of rule id to severity")
    for rule, s in sev.items():
        if rule not in RULES:
            raise UsageError(f"{path}: severities.{rule}: unknown rule id")
        if s not in SEVERITIES:
            raise UsageError(f"{path}: severities.{rule}: expected one of {', '.join(SEVERITIES)}")
    if not isinstance(ignore, list) or any(r not in RULES for r in ignore):
        raise UsageError(f"{path}: ignore: expected a list of rule ids")
    return Policy(allow=tuple(host_of(a) for a in allow), severities=dict(sev), ignore_rules=tuple(ignore))


def apply_policy(findings: Iterable[Finding], policy: Policy) -> list[Finding]:
    out = []
    for f in findings:
        if f.rule in policy.ignore_rules:
            continue
        if f.rule in policy.severities:
            f = f.with_(severity=policy.severities[f.rule])
        if f.rule == "EGRESS-001" and is_allowed(f.host, policy.allow):
            continue
        out.append(f)
    return out


# 2: ids no longer depend on the variant or the planted canary values (findings.json 2).
BASELINE_VERSION = 2


def write_baseline(findings: Iterable[Finding], path: Path) -> int:
    """Accepted finding ids, with enough context for a reviewer of the file to see what they are
    (rule, scenario, host, where): never an excerpt or a value."""
    entries = {f.id: {"id": f.id, "rule": f.rule, "severity": f.severity, "scenario": f.scenario,
                      "host": f.host, "location": f.evidence.location if f.evidence else "",
                      "title": RULES[f.rule].title} for f in findings}
    doc = {"schema_version": BASELINE_VERSION, "tool": "egress-auditor",
           "findings": sorted(entries.values(), key=lambda e: (e["scenario"], e["rule"], e["host"],
                                                               e["location"], e["id"]))}
    path.parent.mkdir(parents=True, exist_ok=True)
    outfiles.write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return len(entries)


def load_baseline(path: str | Path | None) -> frozenset[str]:
    if not path:
        return frozenset()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read baseline: {e}") from None
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if version == 1:
        raise UsageError(f"{path}: schema_version: 1 is from an older egress-audit whose finding ids "
                         "changed with every audit; write it again with `egress-audit baseline OUT "
                         "--out FILE` from the audit you accepted (or a new one)")
    if version != BASELINE_VERSION:
        raise UsageError(f"{path}: schema_version: expected {BASELINE_VERSION} (an egress-audit baseline file)")
    try:
        return frozenset(str(e["id"]) for e in doc["findings"])
    except (KeyError, TypeError):
        raise UsageError(f"{path}: findings: expected a list of {{id, rule, host, …}}") from None


def apply_baseline(findings: Iterable[Finding], ids: frozenset[str]) -> list[Finding]:
    return [f.with_(baselined=True) if f.id in ids else f for f in findings]

