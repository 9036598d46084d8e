"""What changed between two audits: endpoints, data fields sent, findings (by stable id)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .findings import SEVERITY_RANK


def load_findings(path: Path) -> dict:
    target = path / "findings.json" if path.is_dir() else path
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"{target}: cannot read findings: {e}") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != 1 or "findings" not in doc:
        raise UsageError(f"{target}: schema_version: expected an egress-audit findings.json (schema_version 1)")
    return doc


@dataclass(frozen=True)
class Diff:
    new: tuple[dict, ...]
    fixed: tuple[dict, ...]
    unchanged: int
    endpoints_added: tuple[str, ...]
    endpoints_removed: tuple[str, ...]
    fields_added: tuple[str, ...]  # host + evidence location newly carrying data
    fields_removed: tuple[str, ...]

    def failing(self, fail_on: str) -> tuple[dict, ...]:
        if fail_on == "never":
            return ()
        bar = SEVERITY_RANK[fail_on]
        return tuple(f for f in self.new if not f.get("baselined") and SEVERITY_RANK[f["severity"]] >= bar)


def _fields(doc: dict) -> set[str]:
    return {f"{f['host']} {f['evidence']['location']}" for f in doc["findings"] if f.get("evidence")}


def diff(old: dict, new: dict) -> Diff:
    old_ids = {f["id"]: f for f in old["findings"]}
    new_ids = {f["id"]: f for f in new["findings"]}
    old_hosts = {e["host"] for e in old.get("endpoints", [])}
    new_hosts = {e["host"] for e in new.get("endpoints", [])}
    return Diff(
        new=tuple(f for i, f in new_ids.items() if i not in old_ids),
        fixed=tuple(f for i, f in old_ids.items() if i not in new_ids),
        unchanged=len(set(old_ids) & set(new_ids)),
        endpoints_added=tuple(sorted(new_hosts - old_hosts)),
        endpoints_removed=tuple(sorted(old_hosts - new_hosts)),
        fields_added=tuple(sorted(_fields(new) - _fields(old))),
        fields_removed=tuple(sorted(_fields(old) - _fields(new))),
    )


def to_json(d: Diff) -> dict:
    return {"schema_version": 1, "new": list(d.new), "fixed": list(d.fixed), "unchanged": d.unchanged,
            "endpoints": {"added": list(d.endpoints_added), "removed": list(d.endpoints_removed)},
            "fields": {"added": list(d.fields_added), "removed": list(d.fields_removed)}}


def to_text(d: Diff) -> str:
    lines = [f"{len(d.new)} new, {len(d.fixed)} fixed, {d.unchanged} unchanged finding(s)"]
    for title, items in (("new endpoints", d.endpoints_added), ("endpoints gone", d.endpoints_removed),
                         ("new data fields", d.fields_added), ("data fields gone", d.fields_removed)):
        if items:
            lines.append(f"{title}:")
            lines += [f"  {i}" for i in items]
    for title, fs in (("new findings", d.new), ("fixed findings", d.fixed)):
        if fs:
            lines.append(f"{title}:")
            lines += [f"  {f['severity']:8} {f['rule']:11} {f['scenario']}/{f['variant']} {f['host']}" for f in fs]
    return "\n".join(lines)
