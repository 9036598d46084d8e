"""Reading one real-world audit's output directory (shared by the real-world test modules)."""

import json

from auditor import flowstore


def _runs(out):
    [scenario_dir] = list((out / "runs").iterdir())  # one scenario per real-world audit
    return scenario_dir


def findings(out, rule=None, variant=None):
    doc = json.loads((out / "findings.json").read_text())
    return [f for f in doc["findings"] if (rule is None or f["rule"] == rule)
            and (variant is None or f["variant"] == variant)]


def manifest(out, run):
    return json.loads((_runs(out) / run / "run.json").read_text())


def exchanges(out, run):
    return list(flowstore.read_mitm(_runs(out) / run / "flows.mitm"))


def posts(out, run, collector):
    """The requests of a run to the collector with their decoded JSON bodies, in time order."""
    sent = [e for e in exchanges(out, run) if e.kind == "http" and e.host == collector]
    return [(e, json.loads(e.request_body)) for e in sorted(sent, key=lambda e: e.timestamp)]


def output(out, run):
    lines = (_runs(out) / run / "output.jsonl").read_text().splitlines()
    return [json.loads(l) for l in lines if l.strip()]
