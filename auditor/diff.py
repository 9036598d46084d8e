"""What changed between two audits, per endpoint: endpoints, data fields sent, findings (by stable id).

Finding ids do not depend on the variant, the run or the planted canary values, so two audits of an
unchanged program compare equal; what differs is what the program changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .findings import SEVERITY_RANK, stable_text

FINDINGS_VERSION = 2  # the findings.json this reads
DIFF_VERSION = 2  # the JSON this writes


def load_findings(path: Path) -> dict:
    target = path / "findings.json" if path.is_dir() else path
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{target}: cannot read findings: {e}") from None
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if version == 1:
        raise UsageError(f"{target}: schema_version: 1 is from an older egress-audit whose finding ids "
                         "are not comparable; re-render that audit with `egress-audit report DIR` "
                         "(it re-reads the run directories) and diff again")
    if version != FINDINGS_VERSION or not isinstance(doc.get("findings"), list):
        raise UsageError(f"{target}: schema_version: expected an egress-audit findings.json "
                         f"(schema_version {FINDINGS_VERSION})")
    return doc


@dataclass(frozen=True, order=True)
class DataField:
    """A place in the traffic to one endpoint that carries something the audit recognised."""

    host: str
    location: str  # as in finding ids: array slots and per-run ids generic (body:$.sessions.{id}.host)
    carries: str  # identity key or heuristic kind, with its form when not plain: "email as md5"

    def to_json(self) -> dict:
        return {"host": self.host, "location": self.location, "carries": self.carries}

    def __str__(self) -> str:
        return f"{self.location} carries {self.carries}"


def _fields(doc: dict) -> set[DataField]:
    out = set()
    for f in doc["findings"]:
        ev = f.get("evidence")
        if not ev or not f.get("host"):
            continue
        form = ev.get("form") or "plain"
        carries = ev.get("match", "") + ("" if form == "plain" else f" as {form}")
        out.add(DataField(f["host"], stable_text(ev.get("location", "")), carries))
    return out


@dataclass(frozen=True)
class EndpointChange:
    host: str
    change: str  # new | removed | changed
    cls: str  # the endpoint's class (new audit's, or the old one's when removed)
    fields_added: tuple[DataField, ...] = ()
    fields_removed: tuple[DataField, ...] = ()
    new: tuple[dict, ...] = ()
    fixed: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Diff:
    new: tuple[dict, ...]
    fixed: tuple[dict, ...]
    unchanged: int
    endpoints_added: tuple[str, ...]
    endpoints_removed: tuple[str, ...]
    fields_added: tuple[DataField, ...]
    fields_removed: tuple[DataField, ...]
    endpoints: tuple[EndpointChange, ...]  # only those with a change, audit-wide findings under ""

    def failing(self, fail_on: str) -> tuple[dict, ...]:
        if fail_on == "never":
            return ()
        bar = SEVERITY_RANK[fail_on]
        return tuple(f for f in self.new if not f.get("baselined") and SEVERITY_RANK[f["severity"]] >= bar)


def _order(f: dict) -> tuple:
    return (-SEVERITY_RANK.get(f.get("severity", "info"), 0), f.get("rule", ""),
            (f.get("evidence") or {}).get("location", ""), f["id"])


def diff(old: dict, new: dict) -> Diff:
    old_ids = {f["id"]: f for f in old["findings"]}
    new_ids = {f["id"]: f for f in new["findings"]}
    old_eps = {e["host"]: e for e in old.get("endpoints", [])}
    new_eps = {e["host"]: e for e in new.get("endpoints", [])}
    added = sorted(new_ids.keys() - old_ids.keys())
    gone = sorted(old_ids.keys() - new_ids.keys())
    fields_old, fields_new = _fields(old), _fields(new)
    f_added, f_removed = sorted(fields_new - fields_old), sorted(fields_old - fields_new)
    ep_added, ep_removed = sorted(new_eps.keys() - old_eps.keys()), sorted(old_eps.keys() - new_eps.keys())
    hosts = sorted({*ep_added, *ep_removed, *(x.host for x in f_added + f_removed),
                    *(new_ids[i].get("host", "") for i in added), *(old_ids[i].get("host", "") for i in gone)},
                   key=lambda h: (h == "", h))
    changes = []
    for h in hosts:
        change = "new" if h in ep_added else "removed" if h in ep_removed else "changed"
        cls = (new_eps.get(h) or old_eps.get(h) or {}).get("class", "")
        changes.append(EndpointChange(
            h, change, cls,
            tuple(x for x in f_added if x.host == h), tuple(x for x in f_removed if x.host == h),
            tuple(sorted((new_ids[i] for i in added if new_ids[i].get("host", "") == h), key=_order)),
            tuple(sorted((old_ids[i] for i in gone if old_ids[i].get("host", "") == h), key=_order))))
    return Diff(
        new=tuple(sorted((new_ids[i] for i in added), key=_order)),
        fixed=tuple(sorted((old_ids[i] for i in gone), key=_order)),
        unchanged=len(old_ids.keys() & new_ids.keys()),
        endpoints_added=tuple(ep_added), endpoints_removed=tuple(ep_removed),
        fields_added=tuple(f_added), fields_removed=tuple(f_removed),
        endpoints=tuple(changes),
    )


def _finding_json(f: dict) -> dict:
    ev = f.get("evidence") or {}
    return {"id": f["id"], "rule": f["rule"], "severity": f["severity"], "title": f.get("title", ""),
            "scenario": f.get("scenario", ""), "variants": f.get("variants") or [f.get("variant", "")],
            "host": f.get("host", ""), "location": ev.get("location", ""), "match": ev.get("match", ""),
            "baselined": bool(f.get("baselined"))}


def to_json(d: Diff) -> dict:
    return {
        "schema_version": DIFF_VERSION,
        "summary": {"new": len(d.new), "fixed": len(d.fixed), "unchanged": d.unchanged,
                    "endpoints_added": len(d.endpoints_added), "endpoints_removed": len(d.endpoints_removed),
                    "fields_added": len(d.fields_added), "fields_removed": len(d.fields_removed)},
        "endpoints": [{"host": c.host, "change": c.change, "class": c.cls,
                       "fields": {"added": [x.to_json() for x in c.fields_added],
                                  "removed": [x.to_json() for x in c.fields_removed]},
                       "findings": {"new": [_finding_json(f) for f in c.new],
                                    "fixed": [_finding_json(f) for f in c.fixed]}}
                      for c in d.endpoints],
        "new": [_finding_json(f) for f in d.new],
        "fixed": [_finding_json(f) for f in d.fixed],
        "unchanged": d.unchanged,
    }


def headline(d: Diff) -> str:
    return (f"{len(d.new)} new, {len(d.fixed)} fixed, {d.unchanged} unchanged finding(s); "
            f"endpoints: {len(d.endpoints_added)} new, {len(d.endpoints_removed)} gone; "
            f"data fields: {len(d.fields_added)} new, {len(d.fields_removed)} gone")


def _finding_line(f: dict) -> str:
    j = _finding_json(f)
    where = f" at {j['location']}" if j["location"] else ""
    base = " (baselined)" if j["baselined"] else ""
    return (f"{j['severity']:8} {j['rule']:11} {j['title']}{where} "
            f"[{j['scenario']}: {', '.join(j['variants'])}] id={j['id']}{base}")


def _title(c: EndpointChange) -> str:
    if not c.host:
        return "(not tied to one endpoint)"
    what = {"new": "new endpoint", "removed": "endpoint gone", "changed": "endpoint"}[c.change]
    return f"{what} {c.host}" + (f" ({c.cls})" if c.cls else "")


def to_text(d: Diff) -> str:
    from .safetext import printable  # captured host names and locations: shown, never obeyed

    lines = [headline(d)]
    for c in d.endpoints:
        lines.append(printable(_title(c)))
        lines += [printable(f"  + data field {x}") for x in c.fields_added]
        lines += [printable(f"  - data field {x}") for x in c.fields_removed]
        lines += [printable(f"  + new   {_finding_line(f)}") for f in c.new]
        lines += [printable(f"  - fixed {_finding_line(f)}") for f in c.fixed]
    return "\n".join(lines)


def to_markdown(d: Diff) -> str:
    from .report.md import code

    lines = [f"## egress-audit diff: {'❌' if d.new else '✅'} {headline(d)}", ""]
    for c in d.endpoints:
        lines += [f"### {code(_title(c), 200, cell=False)}", ""]
        rows = [["+", "data field", code(x.location, 80), code(x.carries, 60), ""] for x in c.fields_added]
        rows += [["−", "data field", code(x.location, 80), code(x.carries, 60), ""] for x in c.fields_removed]
        for sign, fs in (("+", c.new), ("−", c.fixed)):
            for f in fs:
                j = _finding_json(f)
                rows.append([sign, f"{j['severity']} {j['rule']}" + (" (baselined)" if j["baselined"] else ""),
                             code(j["location"], 80), code(j["match"], 60),
                             code(f"{j['scenario']}: {', '.join(j['variants'])}", 80)])
        lines += ["| | what | where | carries / matched | runs |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    return "\n".join(lines) + "\n"
