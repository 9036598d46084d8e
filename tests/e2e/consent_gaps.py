"""The invariant of issue 7, checked from an audit's files independently of the classifier: a
scenario whose program sends undeclared data in `unset` never gets a report without a consent
finding. Shared by the demo test and the real-world suite (tests/realworld)."""

import json
from pathlib import Path

from auditor import flowstore
from auditor.classify import declared, request_key


def _sent(run_dir: Path) -> dict[str, str]:
    """Request key -> host of what a run sent with data (a body, a query or a POST)."""
    out = {}
    for ex in flowstore.read_mitm(run_dir / "flows.mitm"):
        if ex.kind in ("http", "websocket") and (ex.request_body or "?" in ex.url or ex.method == "POST"):
            out[request_key(ex.kind, ex.method, ex.host, ex.path, ex.port)] = ex.host
    return out


def consent_gaps(out: Path) -> list[str]:
    """Hosts that received undeclared data in unset — personal, confidential or identifying data
    (a PRIV/CONF finding), or a request that a refusing variant did not send — and got no consent
    finding. Empty when the invariant holds."""
    doc = json.loads((out / "findings.json").read_text())
    gaps = []
    for scenario_dir in sorted((out / "runs").iterdir()):
        unset = scenario_dir / "unset"
        if not (unset / "run.json").exists():
            continue
        manifest = json.loads((unset / "run.json").read_text())
        expect = manifest.get("expect") or {}

        def undeclared(host: str, path: str = "/") -> bool:
            return not declared(host, path, (), tuple(expect.get("functional") or ()),
                                tuple(manifest.get("allow") or ()))

        def variants(f):
            return f.get("variants") or [f["variant"]]

        mine = [f for f in doc["findings"] if f["scenario"] == scenario_dir.name]
        data_hosts = {f["host"] for f in mine if f["rule"].startswith(("PRIV", "CONF")) and "unset" in variants(f)
                      and f["host"] and undeclared(f["host"], f["url"].split(f["host"], 1)[-1] or "/")}
        sent = _sent(unset)
        for refusing in ("denied", "dnt"):
            if (scenario_dir / refusing / "run.json").exists():
                kept = _sent(scenario_dir / refusing)
                data_hosts |= {h for k, h in sent.items() if k not in kept
                               and undeclared(h, k.split(h, 1)[-1] or "/")}
        consent = {f["host"] for f in mine if f["rule"].startswith("CONSENT") and "unset" in variants(f)}
        gaps += [f"{scenario_dir.name}: {h}" for h in sorted(data_hosts - consent)]
    return gaps
