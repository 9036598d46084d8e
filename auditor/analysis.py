"""Run directories (or foreign captures) → Audit. A pure function of files on disk."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping

from . import __version__, detect, flowstore, inspection
from .audit import Audit, Contact, Endpoint, RunSummary, StepSpan
from .catalog import classify, event_keys
from .errors import UsageError
from .findings import SEVERITY_RANK, Finding, group, looks_like_id as _looks_like_id, mask_in
from .identity import Identity
from .policy import Policy, apply_baseline, apply_policy
from .rules import (ExchangeFacts, RunFacts, consent_rules, egress_rules, evidence_rules,
                    identifier_rules, security_rules)

# Heuristic notice when the scenario documents none: words a telemetry notice uses.
NOTICE_HEURISTIC = re.compile(r"(?i)(telemetry|usage (data|statistics)|analytics|anonymous(ly)? "
                              r"(usage|data|statistics)|collects? .{0,40}data)")


def find_run_dirs(path: Path) -> list[Path]:
    if (path / "run.json").is_file():
        return [path]
    dirs = sorted(p.parent for p in path.glob("runs/*/*/run.json"))
    if not dirs:
        raise UsageError(f"{path}: not a run directory (no run.json, no runs/*/*/run.json)")
    return dirs


def _read_jsonl(path: Path) -> list[dict]:
    out = []
    try:
        with open(path, encoding="utf-8") as fo:
            for line in fo:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a line torn by a killed writer
    except OSError:
        pass
    return out


# Standard headers never carry an id of their own (a User-Agent is stable but not a tracker).
_PLAIN_HEADERS = {"user-agent", "content-type", "content-encoding", "content-length", "accept",
                  "accept-encoding", "accept-language", "host", "connection", "date", "te"}


def _identifiers(ex: flowstore.Exchange, fields, matched: set[str]) -> dict[str, str]:
    """Id-like values by location, for comparing the same field across runs."""
    found: dict[str, str] = {}
    matched = {inspection.slots(m) for m in matched}
    for loc, f in fields.items():
        if loc.startswith("header:") and f.key.lower() in _PLAIN_HEADERS:
            continue
        if loc not in matched and _looks_like_id(f.value):
            found[loc] = f.value
    return found


def _exchange_facts(ex: flowstore.Exchange, matcher, declared, allowed, notes, want_ids) -> ExchangeFacts:
    seen = inspection.inspect(ex, matcher, notes)
    cls, reason = classify(ex.host, ex.path, declared, allowed, event_keys(seen.keys))
    ids = {}
    if want_ids and cls != "functional":
        ids = _identifiers(ex, seen.fields, {e.location for e in seen.evidence})
    return ExchangeFacts(ex, cls, reason, seen.evidence, ids)


def _run_facts(d: Path, manifest: dict, exchanges, matcher, notes) -> tuple[RunFacts, RunSummary]:
    expect = manifest.get("expect", {})
    declared = tuple(expect.get("telemetry") or ())
    allowed = tuple(manifest.get("allow") or ())
    want_ids = manifest.get("variant") == "unset"
    facts = [_exchange_facts(ex, matcher, declared, allowed, notes, want_ids) for ex in exchanges]
    cached = sum(1 for ex in exchanges if (ex.meta.get("egress.cache") or {}).get("status") == "hit")
    if cached:  # the program got the same bytes; only the registry did not see these downloads
        notes.append(f"{manifest['scenario']}/{manifest['run']}: {cached} download(s) of immutable package "
                     "files answered from the download cache (digest-verified; requests recorded as sent)")
    output = _read_jsonl(d / "output.jsonl")
    pattern = expect.get("notice")
    notice_re = re.compile(pattern) if pattern else NOTICE_HEURISTIC
    notice_time = next((o.get("t") for o in output if o.get("stream") in ("stdout", "stderr", "tty")
                        and notice_re.search(o.get("text", ""))), None)
    rf = RunFacts(
        scenario=manifest["scenario"], run=manifest["run"], variant=manifest["variant"],
        same_home_as=manifest.get("same_home_as", ""), exchanges=facts,
        events=_read_jsonl(d / "events.jsonl"), notice_time=notice_time,
        notice_source="expect.notice" if pattern else "heuristic",
        has_denied=bool(manifest.get("consent", {}).get("denied")), capture=manifest.get("capture", "?"))
    problems = tuple(manifest.get("problems", ()))
    summary = RunSummary(
        scenario=rf.scenario, name=rf.run, variant=rf.variant, capture=rf.capture,
        coverage=tuple(manifest.get("coverage", ())), coverage_note=manifest.get("coverage_note", ""),
        flows=len(exchanges), exit_codes=tuple(manifest.get("exit_codes", ())),
        complete=bool(manifest.get("complete")) and not problems,
        problems=problems + tuple(n for n in manifest.get("notes", ()) if "timed out" in n),
        dir=d, notice_seen=notice_time is not None,
        scenario_file=str(manifest.get("scenario_path") or ""), scenario_root=str(manifest.get("scenario_root") or ""),
        scenario_lines=tuple((str(k), v) for k, v in (manifest.get("scenario_lines") or {}).items()
                             if isinstance(v, int)),
        telemetry_requests=sum(1 for x in facts if x.cls == "telemetry" and x.has_payload),
        **_timeline(manifest, facts, notice_time))
    return rf, summary


def _contact_label(ex: flowstore.Exchange) -> str:
    if ex.kind in ("http", "websocket"):
        return f"{ex.method} {ex.path.split('?', 1)[0]}"[:200]  # a query is data: the findings show it
    if ex.kind == "dns":
        return f"{ex.method or '?'}? {ex.host}"[:200]
    return f"{ex.scheme} :{ex.port}"


def _timeline(manifest: dict, facts, notice_time: float | None) -> dict:
    """What the report draws per run: steps, the notice and every contact, in seconds since the
    first step started (setting up the capture is not the program's time), or since the first
    contact of a capture without steps."""
    steps = [s for s in manifest.get("steps", ()) if isinstance(s, dict)]
    times = [x.ex.timestamp for x in facts if x.ex.timestamp]
    starts = [t for t in [steps[0].get("started") if steps else None, *times[:1]] if t]
    t0 = min([*starts, min(times)] if times else starts) if starts else 0.0
    end = max([t0, *times, *(s.get("ended") or 0 for s in steps)])

    def rel(t) -> float:
        return round(max(0.0, float(t) - t0), 3) if t else 0.0

    spans = []
    for s in steps:
        code, want = s.get("exit_code"), s.get("expect_exit")
        spans.append(StepSpan(str(s.get("name", "")), rel(s.get("started")), rel(s.get("ended")),
                              code, not s.get("timed_out") and (want is None or code == want)))
    contacts = sorted((Contact(rel(x.ex.timestamp), x.ex.host, x.ex.kind, x.cls, x.has_payload,
                               _contact_label(x.ex)) for x in facts), key=lambda c: c.at)
    return {"duration": rel(end), "notice_at": rel(notice_time) if notice_time else None,
            "steps": tuple(spans), "contacts": tuple(contacts)}


def _endpoints(runs: list[RunFacts], canon: Callable[[str], str]) -> tuple[Endpoint, ...]:
    agg: dict[str, dict] = defaultdict(lambda: {"cls": set(), "variants": set(), "http": 0, "dns": 0,
                                                "other": 0, "action": set(), "ports": set()})
    for r in runs:
        for x in r.exchanges:
            a = agg[canon(x.ex.host)]
            a["cls"].add(x.cls)
            a["variants"].add(r.variant)
            # A DNS question is no request: counted apart, so that "requests" means what was sent.
            a["http" if x.ex.kind in ("http", "websocket") else "dns" if x.ex.kind == "dns" else "other"] += 1
            if x.ex.kind != "dns":
                a["action"].add(x.ex.action or "?")
            if x.ex.kind != "dns" and x.ex.port:  # a DNS question is not a connection to the host
                a["ports"].add((x.ex.scheme or x.ex.kind, x.ex.port, x.ex.action == "forward"))
    out = []
    for host, a in sorted(agg.items()):
        cls = next(c for c in ("telemetry", "functional", "unknown") if c in a["cls"] or c == "unknown")
        action = a["action"].pop() if len(a["action"]) == 1 else ("mixed" if a["action"] else "")
        out.append(Endpoint(host, cls, tuple(sorted(a["variants"])), a["http"], action,
                            ports=tuple(sorted((s, p) for s, p, _ in a["ports"])),
                            forwarded=tuple(sorted((s, p) for s, p, fwd in a["ports"] if fwd)),
                            lookups=a["dns"], connections=a["other"]))
    return tuple(out)


def placeholders(matchers: Iterable[detect.Matcher]) -> Callable[[str], str]:
    """text -> text with every canary value, in every form the matchers know, replaced by `{key}`.

    By span, with the matcher that finds the values in traffic: a user name inside a URL path, a
    host name inside a looked-up name, a base64 project path in a JSON key. What is left is the
    same in every audit of the same program, so it can go into finding ids and endpoint names."""
    matchers = list(matchers)

    def canon(text: str) -> str:
        if not text or not matchers:
            return text
        data = text.encode("utf-8", "surrogatepass")
        hits = sorted((h for m in matchers for h in m.find(data)), key=lambda h: (h.start, h.start - h.end))
        if not hits:
            return text
        out, pos = [], 0
        for h in hits:
            if h.start < pos:
                continue  # inside a longer value already replaced (the user name in the home path)
            out += [data[pos:h.start], b"{" + h.key.encode() + b"}"]
            pos = h.end
        out.append(data[pos:])
        return b"".join(out).decode("utf-8", "surrogatepass")

    return canon


def _stable(f: Finding, canon: Callable[[str], str], step: str) -> Finding:
    """The finding with canary values out of its host, URL, detail and evidence location, its id
    recomputed from those: the same leak gets the same id whatever the planted values were."""
    ev = f.evidence
    changes: dict = {"host": canon(f.host), "url": canon(f.url), "detail": canon(f.detail),
                     "step": f.step or step}
    if ev is not None:
        changes["evidence"] = replace(ev, location=canon(ev.location))
    return f.with_(id="", **changes)


def _masked(f: Finding, secrets: tuple[str, ...]) -> Finding:
    """URLs and details are built from captured text: mask every identity value in them."""
    url, detail = f.url, f.detail
    for value in secrets:
        url, detail = mask_in(url, value), mask_in(detail, value)
    return f if (url, detail) == (f.url, f.detail) else f.with_(url=url, detail=detail)


def _masked_contacts(s: RunSummary, canon: Callable[[str], str], secrets: tuple[str, ...]) -> RunSummary:
    """Contact hosts and labels are captured text too (a path can carry a user name): canary values
    become `{key}`, as in endpoint names and findings, so the grid matches contacts to endpoints."""
    def clean(text: str) -> str:
        text = canon(text)
        for value in secrets:
            text = mask_in(text, value)
        return text
    contacts = tuple(replace(c, host=clean(c.host), label=clean(c.label)) for c in s.contacts)
    return s if contacts == s.contacts else replace(s, contacts=contacts)


def _secrets(identities) -> tuple[str, ...]:
    values = {v for ident in identities for v in ident.values().values() if len(v) >= 4}
    return tuple(sorted(values, key=len, reverse=True))  # longest first: a path before its last part


def build(runs: list[RunFacts], summaries: list[RunSummary], *, policy: Policy, baseline: frozenset[str],
          fail_on: str, capture: str, notes: list[str], problems: list[str], created: str | None = None,
          out: Path | None = None, secrets: tuple[str, ...] = (),
          canon: Callable[[str], str] | None = None,
          flow_steps: Mapping[tuple[str, str, str], str] | None = None) -> Audit:
    """Findings of every rule, made stable (canon: see placeholders) and grouped across runs;
    flow_steps names the scenario step each (scenario, run, flow id) was sent in."""
    canon = canon or (lambda text: text)
    flow_steps = flow_steps or {}
    findings: list[Finding] = []
    declared: dict[str, tuple[str, ...]] = {}
    for r in runs:
        findings += consent_rules(r) + evidence_rules(r) + security_rules(r)
    by_scenario: dict[str, list[RunFacts]] = defaultdict(list)
    for r in runs:
        by_scenario[r.scenario].append(r)
    for name, rs in by_scenario.items():
        findings += identifier_rules(rs)
    for s, d in ((s, s.dir) for s in summaries if s.dir):
        m = json.loads((d / "run.json").read_text(encoding="utf-8"))
        exp = tuple((m.get("expect") or {}).get("telemetry") or ())
        declared[s.scenario] = tuple({*declared.get(s.scenario, ()), *exp, *m.get("allow", ())})
    findings += egress_rules(runs, declared)
    findings = [_stable(f, canon, flow_steps.get((f.scenario, f.variant, f.flow), "")) for f in findings]
    findings = [_masked(f, secrets) for f in group(findings)]
    summaries = [_masked_contacts(s, canon, secrets) for s in summaries]
    findings = apply_baseline(apply_policy(findings, policy), baseline)
    findings.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.rule, f.scenario, f.variant, f.host,
                                 f.evidence.location if f.evidence else ""))
    incomplete = [f"{s.scenario}/{s.name}: {p}" for s in summaries if not s.complete for p in s.problems
                  or ("run incomplete",)]
    problems = problems + incomplete
    return Audit(
        tool_version=__version__,
        created=created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        capture=capture, complete=not problems and bool(summaries), runs=tuple(summaries),
        endpoints=_endpoints(runs, canon), findings=tuple(findings),
        scenarios=tuple(dict.fromkeys(s.scenario for s in summaries)), fail_on=fail_on, out=out,
        problems=tuple(problems) + (() if summaries else ("no runs were captured",)),
        notes=tuple(dict.fromkeys(notes)))


def _flow_steps(manifest: dict, exchanges) -> dict[tuple[str, str, str], str]:
    """(scenario, run, flow id) -> the step that was running when the flow started. A detached
    sender that outlives its step is put on the last step that started before it."""
    steps = sorted((s["started"], str(s.get("name", ""))) for s in manifest.get("steps", ())
                   if isinstance(s, dict) and isinstance(s.get("started"), (int, float)))
    out = {}
    for ex in exchanges:
        name = ""
        for started, step in steps:
            if started > ex.timestamp:
                break
            name = step
        if name:
            out[(manifest["scenario"], manifest["run"], ex.id)] = name
    return out


def analyze_run_dirs(dirs: list[Path], *, policy: Policy = Policy(), baseline: frozenset[str] = frozenset(),
                     fail_on: str = "high", identity: Identity | None = None, out: Path | None = None,
                     expected_runs: int | None = None) -> Audit:
    runs, summaries, notes, problems = [], [], [], []
    matchers: dict[str, detect.Matcher] = {}
    identities: list[Identity] = []
    modes = set()
    flow_steps: dict[tuple[str, str, str], str] = {}
    for d in dirs:
        try:
            manifest = json.loads((d / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"{d / 'run.json'}: cannot read run manifest: {e}") from None
        ident = identity or Identity.from_json(manifest.get("identity", {}))
        key = json.dumps(ident.to_json(), sort_keys=True)
        if key not in matchers:
            matchers[key] = detect.Matcher(ident)
            identities.append(ident)
        flows = d / "flows.mitm"
        exchanges = list(flowstore.read_mitm(flows, manifest["scenario"], manifest["run"])) if flows.exists() else []
        rf, summary = _run_facts(d, manifest, exchanges, matchers[key], notes)
        flow_steps.update(_flow_steps(manifest, exchanges))
        runs.append(rf)
        summaries.append(summary)
        modes.add(summary.capture)
    if expected_runs is not None and len(summaries) < expected_runs:
        problems.append(f"only {len(summaries)} of {expected_runs} planned runs produced a run directory")
    capture = modes.pop() if len(modes) == 1 else ("mixed" if modes else "none")
    return build(runs, summaries, policy=policy, baseline=baseline, fail_on=fail_on, capture=capture,
                 notes=notes, problems=problems, out=out, secrets=_secrets(identities),
                 canon=placeholders(matchers.values()), flow_steps=flow_steps)


def analyze_captures(paths: list[Path], identity: Identity | None, *, policy: Policy = Policy(),
                     baseline: frozenset[str] = frozenset(), fail_on: str = "high") -> Audit:
    """Foreign captures (.mitm, HAR): no variants, so only evidence and security rules apply."""
    runs, summaries, notes = [], [], []
    matcher = detect.Matcher(identity) if identity else None
    for p in paths:
        kind = flowstore.detect_kind(p)
        name = p.stem
        reader = flowstore.read_har if kind == "har" else flowstore.read_mitm
        exchanges = list(reader(p, "imported", name))
        facts = [_exchange_facts(ex, matcher, (), (), notes, False) for ex in exchanges]
        runs.append(RunFacts("imported", name, "imported", "", facts, [], None, "heuristic", True, "imported"))
        summaries.append(RunSummary("imported", name, "imported", "imported", (), f"imported {kind} file {p}",
                                    len(exchanges), (), True))
    return build(runs, summaries, policy=policy, baseline=baseline, fail_on=fail_on, capture="imported",
                 notes=notes, problems=[], secrets=_secrets([identity] if identity else []),
                 canon=placeholders([matcher] if matcher else []))
