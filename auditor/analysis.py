"""Run directories (or foreign captures) → Audit. A pure function of files on disk."""

from __future__ import annotations

import functools
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping

from . import (__version__, classify, collectors, detect, fanout, flowstore, groundtruth, homefiles, identifiers,
               inspection, optouts, outfiles)
from .audit import CLASS_ORDER, Audit, Contact, Endpoint, RequestClass, RunSummary, StepSpan
from .catalog import event_keys, name_label
from .decode import Budget
from .errors import UsageError
from .findings import SEVERITY_RANK, Finding, group
from .identifiers import Verdict
from .identity import Identity
from .policy import Policy, apply_baseline, apply_policy
from .redaction import Redactor
from .rules import (COLLECTING, ExchangeFacts, RunFacts, consent_rules, egress_rules, evidence_rules,
                    identifier_rules, security_rules, unanalysed_rules)
from .safetext import clip

# What a telemetry notice says, when the scenario documents none: checked on what the user saw
# (stdout, stderr, the terminal). A notice a package manager swallowed (npm >= 7 hides the output of
# install scripts) never reaches output.jsonl, so it is, rightly, no notice.
NOTICE_PATTERNS = re.compile(
    r"(?i)(\b(collects|collected|(is|are) collecting)\b.{0,60}\b(data|telemetry|statistics|information|usage|metrics|analytics)\b"
    r"|\b(usage|telemetry|analytics|diagnostic)\s+(data|statistics|information|metrics|reporting|reports)\b"
    r"|\b(telemetry|analytics)\s+(is|are)\s+(enabled|on|collected|sent|active)\b"
    r"|\banonymous(ly)?\s+(usage|data|statistics|metrics|information|crash|telemetry|analytics)"
    r"|\bcrash\s+report(s|ing)?\b|\bopt[- ]?(out|in)\b|\bdo_not_track\b"
    r"|\b(send|share|report)s?\s+(anonymous|usage|telemetry|analytics|diagnostic)\b)")
NOTICE_BUILTIN = "built-in notice patterns"


def find_run_dirs(path: Path) -> list[Path]:
    if (path / "run.json").is_file():
        return [path]
    dirs = sorted(p.parent for p in path.glob("runs/*/*/run.json"))
    if not dirs:
        raise UsageError(f"{path}: not a run directory (no run.json, no runs/*/*/run.json)")
    return dirs


def _manifest(d: Path) -> dict:
    with outfiles.open_read(d / "run.json") as fo:
        return json.loads(fo.read().decode("utf-8"))


def _read_jsonl(path: Path) -> list[dict]:
    out = []
    try:
        # Never through a link, never a FIFO: a run directory is written next to the program.
        with io.TextIOWrapper(outfiles.open_read(path), encoding="utf-8", errors="replace") as fo:
            for line in fo:
                try:
                    out.append(json.loads(line))
                except (ValueError, RecursionError):
                    continue  # a line torn by a killed writer
    except OSError:
        pass
    return out


@dataclass(frozen=True)
class Scope:
    """What a run's scenario declares about destinations."""

    telemetry: tuple[str, ...] = ()
    functional: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()

    @classmethod
    def of(cls, manifest: dict) -> "Scope":
        expect = manifest.get("expect") or {}
        return cls(tuple(expect.get("telemetry") or ()), tuple(expect.get("functional") or ()),
                   tuple(manifest.get("allow") or ()))


def _exchange_facts(ex: flowstore.Exchange, matcher, scope: Scope, notes, budget: Budget | None = None) -> ExchangeFacts:
    """One walk over what the client sent: evidence, structure, protocol, identifier candidates."""
    seen = inspection.inspect(ex, matcher, notes, budget=budget)
    path = ex.path if ex.kind in ("http", "websocket") else None
    said = classify.declared(ex.host, path, scope.telemetry, scope.functional, scope.allowed)
    protocol = collectors.recognise(ex, seen) if said != "functional" else None
    ids = {} if said in ("functional", "allowed") else \
        identifiers.candidates(seen.fields, seen.evidence)
    return ExchangeFacts(ex, "undeclared", "", seen.evidence, ids,
                         key=classify.request_key(ex.kind, ex.method, ex.host, ex.path, ex.port),
                         declared=said, protocol=protocol, label=name_label(ex.host, ex.path),
                         event_keys=frozenset(event_keys(seen.keys)), uninspected=tuple(seen.uninspected))


def _isolated_facts(ex: flowstore.Exchange, *args, budget: Budget) -> ExchangeFacts:
    """One exchange's facts in isolation: whatever its bytes do to the analysis (a decoder bug,
    nesting past a limit, memory) costs that exchange, which is reported as not inspected (SEC-004,
    run incomplete), never the report."""
    try:
        return _exchange_facts(ex, *args, budget=budget)
    except Exception as e:
        return ExchangeFacts(ex, "undeclared", "", [], key=classify.request_key(ex.kind, ex.method, ex.host,
                                                                                ex.path, ex.port), uninspected=(
            f"the analysis of this exchange failed ({type(e).__name__}: {clip(e, 160)})",))


def _uninspected_problem(facts: list[ExchangeFacts]) -> tuple[str, ...]:
    limited = [x for x in facts if x.uninspected]
    if not limited:
        return ()
    return (f"{len(limited)} exchange(s) not fully inspected, reported as SEC-004 (first: "
            f"{limited[0].ex.host}: {limited[0].uninspected[0]})",)


def sends_identifiers(run_dir: Path) -> bool:
    """Did this run send an identifier-like value to a destination the scenario does not declare
    functional? (Whether identity twins have anything to attribute.)"""
    try:
        manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        scope = Scope.of(manifest)
        for ex in flowstore.read_mitm(run_dir / "flows.mitm"):
            if _exchange_facts(ex, None, scope, []).identifiers:
                return True
    except (OSError, ValueError, UsageError):
        return False
    return False


def _context(manifest: dict, identity: Identity) -> fanout.Context:
    scope = Scope.of(manifest)
    return fanout.Context(manifest["scenario"], manifest["run"], identity.to_json(),
                          scope.telemetry, scope.functional, scope.allowed)


def _run_facts(d: Path, manifest: dict, facts: list[ExchangeFacts], notes) -> RunFacts:
    """facts: the run's exchanges analysed (fanout.analyse)."""
    cached = sum(1 for x in facts if (x.ex.meta.get("egress.cache") or {}).get("status") == "hit")
    if cached:  # the program got the same bytes; only the registry did not see these downloads
        notes.append(f"{manifest['scenario']}/{manifest['run']}: {cached} download(s) of immutable package "
                     "files answered from the download cache (digest-verified; requests recorded as sent)")
    output = _read_jsonl(d / "output.jsonl")
    pattern = (manifest.get("expect") or {}).get("notice")
    notice_re = re.compile(pattern) if pattern else NOTICE_PATTERNS
    notice_time = next((o.get("t") for o in output if o.get("stream") in ("stdout", "stderr", "tty")
                        and notice_re.search(o.get("text", ""))), None)
    consent = manifest.get("consent") or {}
    return RunFacts(
        scenario=manifest["scenario"], run=manifest["run"], variant=manifest["variant"],
        same_home_as=manifest.get("same_home_as", ""), exchanges=facts,
        events=_read_jsonl(d / "events.jsonl"), notice_time=notice_time,
        notice_source="expect.notice" if pattern else NOTICE_BUILTIN,
        has_denied=bool(consent.get("denied")), capture=manifest.get("capture", "?"),
        twin=manifest.get("twin", ""), complete=bool(manifest.get("complete")) and not manifest.get("problems"),
        steps=tuple((s.get("name", ""), s.get("started") or 0.0, s.get("ended") or 0.0)
                    for s in manifest.get("steps", ())),
        stored=homefiles.load(d), planted=frozenset(manifest.get("planted") or ()),
        optout_note=optouts.promise(manifest["variant"], consent.get("denied_how"),
                                    (manifest.get("software") or {}).get("name", "")))


def _summary(d: Path, manifest: dict, rf: RunFacts, flows: int, read_problems: tuple[str, ...] = ()) -> RunSummary:
    problems = (tuple(manifest.get("problems", ())) + read_problems + _uninspected_problem(rf.exchanges)
                + groundtruth.problems(d, manifest))
    return RunSummary(
        scenario=rf.scenario, name=rf.run, variant=rf.variant, capture=rf.capture,
        coverage=tuple(manifest.get("coverage", ())), coverage_note=manifest.get("coverage_note", ""),
        flows=flows, exit_codes=tuple(manifest.get("exit_codes", ())),
        complete=bool(manifest.get("complete")) and not problems,
        problems=problems + tuple(n for n in manifest.get("notes", ()) if "timed out" in n),
        dir=d, notice_seen=rf.notice_time is not None,
        scenario_file=str(manifest.get("scenario_path") or ""), scenario_root=str(manifest.get("scenario_root") or ""),
        scenario_lines=tuple((str(k), v) for k, v in (manifest.get("scenario_lines") or {}).items()
                             if isinstance(v, int)),
        isolation=(manifest.get("isolation") or {}).get("level", ""),
        telemetry_requests=sum(1 for x in rf.exchanges if x.collects),
        **_timeline(manifest, rf.exchanges, rf.notice_time))


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


@dataclass
class Judged:
    """Cross-run facts of every scenario: what each identifier follows, what each request is."""

    verdicts: list[Verdict] = field(default_factory=list)
    classes: list[RequestClass] = field(default_factory=list)


def judge(runs: list[RunFacts]) -> Judged:
    """Attribute identifiers and classify requests per scenario; mark each run's collecting hosts."""
    out = Judged()
    by_scenario: dict[str, list[RunFacts]] = defaultdict(list)
    for r in runs:
        by_scenario[r.scenario].append(r)
    for rs in by_scenario.values():
        keys = {(x.key, loc): x.protocol.protocol for r in rs for x in r.exchanges if x.protocol
                for loc in x.protocol.keys}
        verdicts = identifiers.attribute(rs, keys)
        classes = classify.classify(rs, verdicts)
        hosts = frozenset({c.host for c in classes if c.cls in COLLECTING}
                          | {x.ex.host for r in rs for x in r.exchanges if x.declared == "telemetry"})
        for r in rs:
            r.telemetry_hosts = hosts
        out.verdicts += verdicts
        out.classes += classes
    return out


def _endpoints(runs: list[RunFacts], classes: list[RequestClass], canon: Callable[[str], str]) -> tuple[Endpoint, ...]:
    agg: dict[str, dict] = defaultdict(lambda: {"variants": set(), "http": 0, "dns": 0, "other": 0, "action": set(),
                                                "ports": set()})
    for r in runs:
        for x in r.exchanges:
            a = agg[canon(x.ex.host)]
            a["variants"].add(r.variant)
            # A DNS question is no request: counted apart, so that "requests" means what was sent.
            a["http" if x.ex.kind in ("http", "websocket") else "dns" if x.ex.kind == "dns" else "other"] += 1
            if x.ex.kind != "dns":
                a["action"].add(x.ex.action or "?")
            if x.ex.kind != "dns" and x.ex.port:  # a DNS question is not a connection to the host
                a["ports"].add((x.ex.scheme or x.ex.kind, x.ex.port, x.ex.action == "forward"))
    by_host: dict[str, list[RequestClass]] = defaultdict(list)
    for c in classes:
        by_host[canon(c.host)].append(replace(c, key=canon(c.key), host=canon(c.host),
                                              evidence=tuple(canon(e) for e in c.evidence)))
    out = []
    for host, a in sorted(agg.items()):
        reqs = sorted(by_host.get(host, ()), key=lambda c: (CLASS_ORDER.index(c.cls), c.key, c.scenario))
        top = reqs[0] if reqs else None
        action = a["action"].pop() if len(a["action"]) == 1 else ("mixed" if a["action"] else "")
        out.append(Endpoint(host, top.cls if top else "undeclared", tuple(sorted(a["variants"])), a["http"], action,
                            ports=tuple(sorted((s, p) for s, p, _ in a["ports"])),
                            forwarded=tuple(sorted((s, p) for s, p, fwd in a["ports"] if fwd)),
                            lookups=a["dns"], connections=a["other"],
                            confidence=top.confidence if top else "", evidence=top.evidence if top else (),
                            by_request=tuple(reqs)))
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

    # Every finding of an exchange carries the same URL (and consent details quote it): scanned
    # once, not once per finding — 20 requests of 5,000 parameters each made 100,000 scans of
    # 200 kB. Bounded, because a cached text may be that long.
    return functools.lru_cache(maxsize=256)(canon)


def _stable(f: Finding, canon: Callable[[str], str], step: str) -> Finding:
    """The finding with canary values out of its host, URL, detail and evidence location, its id
    recomputed from those: the same leak gets the same id whatever the planted values were."""
    ev = f.evidence
    changes: dict = {"host": canon(f.host), "url": canon(f.url), "detail": canon(f.detail),
                     "step": f.step or step}
    if ev is not None:
        changes["evidence"] = replace(ev, location=canon(ev.location),
                                      context=tuple(canon(c) for c in ev.context))
    return f.with_(id="", **changes)


def _redacted(findings: list[Finding], runs: list[RunFacts], red: Redactor) -> list[Finding]:
    """URLs, details, hosts and locations are built from captured text: after the ids are made
    (from stable, placeholder text), what is left of a detected value is masked by span
    (redaction), each exchange's URL once, with what was found in that exchange."""
    by_flow = {x.ex.id: x for r in runs for x in r.exchanges}
    urls: dict[tuple[str, str], str] = {}
    out = []
    for f in findings:
        x = by_flow.get(f.flow)
        if x is not None and f.url:
            key = (f.flow, f.url)
            if key not in urls:
                urls[key] = red.url(f.url, x.evidence, bool(x.uninspected))
            out.append(red.finding(f, urls[key]))
        else:
            out.append(red.finding(f))
    return out


def _masked_contacts(s: RunSummary, canon: Callable[[str], str], red: Redactor) -> RunSummary:
    """Contact hosts and labels are captured text too (a path can carry a user name): canary values
    become `{key}`, as in endpoint names and findings, so the grid matches contacts to endpoints;
    what else is detected in them is masked (redaction)."""
    contacts = tuple(replace(c, host=red.text(canon(c.host), host=True), label=red.text(canon(c.label)))
                     for c in s.contacts)
    return s if contacts == s.contacts else replace(s, contacts=contacts)


def _redacted_endpoint(e: Endpoint, red: Redactor) -> Endpoint:
    """Hosts, request keys and evidence quote captured text (a path can carry a user name): what is
    detected in them is masked, as in findings."""
    reqs = tuple(replace(c, host=red.text(c.host, host=True), key=red.text(c.key),
                         evidence=tuple(red.text(t) for t in c.evidence)) for c in e.by_request)
    return replace(e, host=red.text(e.host, host=True), evidence=tuple(red.text(t) for t in e.evidence),
                   by_request=reqs)


def build(runs: list[RunFacts], summaries: list[RunSummary], *, policy: Policy, baseline: frozenset[str],
          fail_on: str, capture: str, notes: list[str], problems: list[str], created: str | None = None,
          out: Path | None = None, redactor: Redactor | None = None, judged: Judged | None = None,
          canon: Callable[[str], str] | None = None,
          flow_steps: Mapping[tuple[str, str, str], str] | None = None) -> Audit:
    """Findings of every rule from classified runs (`judge` first; build calls it if not given),
    made stable (canon: see placeholders) and grouped across runs; flow_steps names the scenario
    step each (scenario, run, flow id) was sent in."""
    judged = judged or judge(runs)
    canon = canon or (lambda text: text)
    flow_steps = flow_steps or {}
    findings: list[Finding] = []
    problems = list(problems)

    def rules(where: str, *families):
        # Rules read captured values too: one that raises costs its run, not the report.
        for family in families:
            try:
                findings.extend(family())
            except Exception as e:
                problems.append(f"{where}: the rules failed on this run's facts ({type(e).__name__}: {clip(e, 160)})")

    for r in runs:
        rules(f"{r.scenario}/{r.run}", lambda: consent_rules(r), lambda: evidence_rules(r),
              lambda: security_rules(r), lambda: unanalysed_rules(r))
    rules("identifiers", lambda: identifier_rules(judged.verdicts))
    findings += egress_rules(runs)
    findings = [_stable(f, canon, flow_steps.get((f.scenario, f.variant, f.flow), "")) for f in findings]
    red = redactor or Redactor()
    findings = _redacted(group(findings), runs, red)
    summaries = [_masked_contacts(s, canon, red) for s in summaries]
    findings = apply_baseline(apply_policy(findings, policy), baseline)
    findings.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.rule, f.scenario, f.variant, f.host,
                                 f.evidence.location if f.evidence else ""))
    # Problems and notes quote captured text too (a location, a host, a damaged record).
    summaries = [replace(s, problems=tuple(red.text(canon(p)) for p in s.problems)) for s in summaries]
    incomplete = [f"{s.scenario}/{s.name}: {p}" for s in summaries if not s.complete for p in s.problems
                  or ("run incomplete",)]
    problems = [red.text(canon(p)) for p in problems] + incomplete
    notes = [red.text(canon(n)) for n in notes]
    return Audit(
        tool_version=__version__,
        created=created or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        capture=capture, complete=not problems and bool(summaries), runs=tuple(summaries),
        endpoints=tuple(_redacted_endpoint(e, red) for e in _endpoints(runs, judged.classes, canon)),
        findings=tuple(findings),
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
                     expected_runs: int | None = None, jobs: int = 0) -> Audit:
    """jobs: worker processes for the per-exchange analysis (0: one per core; 1: none)."""
    runs, read, notes, problems = [], [], [], []
    matchers: dict[str, detect.Matcher] = {}
    flow_steps: dict[tuple[str, str, str], str] = {}
    manifests = []
    for d in dirs:
        try:
            manifest = _manifest(d)
        except (OSError, ValueError, RecursionError) as e:
            raise UsageError(f"{d / 'run.json'}: cannot read run manifest: {e}") from None
        ident = identity or Identity.from_json(manifest.get("identity", {}))
        key = json.dumps(ident.to_json(), sort_keys=True)
        if key not in matchers:
            matchers[key] = detect.Matcher(ident)
        manifests.append(manifest)
    results = fanout.analyse([(d / "flows.mitm", _context(m, identity or Identity.from_json(m.get("identity", {}))))
                              for d, m in zip(dirs, manifests)], jobs)
    modes = set()
    for d, manifest, (facts, run_notes, damage) in zip(dirs, manifests, results):
        notes += run_notes
        rf = _run_facts(d, manifest, facts, notes)
        flow_steps.update(_flow_steps(manifest, [x.ex for x in facts]))
        runs.append(rf)
        read.append((d, manifest, rf, len(facts), tuple(damage)))
        modes.add(rf.capture)
    judged = judge(runs)
    summaries = [_summary(*r) for r in read]
    if expected_runs is not None and len(summaries) < expected_runs:
        problems.append(f"only {len(summaries)} of {expected_runs} planned runs produced a run directory")
    capture = modes.pop() if len(modes) == 1 else ("mixed" if modes else "none")
    return build(runs, summaries, policy=policy, baseline=baseline, fail_on=fail_on, capture=capture,
                 notes=notes, problems=problems, out=out, redactor=Redactor(matchers=matchers.values()),
                 judged=judged, canon=placeholders(matchers.values()), flow_steps=flow_steps)


def analyze_captures(paths: list[Path], identity: Identity | None, *, policy: Policy = Policy(),
                     baseline: frozenset[str] = frozenset(), fail_on: str = "high", jobs: int = 0) -> Audit:
    """Foreign captures (.mitm, HAR): no variants, so only evidence and security rules apply."""
    runs, summaries, notes, read = [], [], [], []
    matcher = detect.Matcher(identity) if identity else None
    kinds = [flowstore.detect_kind(p) for p in paths]
    contexts = [fanout.Context("imported", p.stem, identity.to_json() if identity else None) for p in paths]
    mitm = [(p, c) for p, c, k in zip(paths, contexts, kinds) if k == "mitm"]
    results = dict(zip((p for p, _ in mitm), fanout.analyse(mitm, jobs)))
    for p, ctx, kind in zip(paths, contexts, kinds):
        if kind == "har":  # HAR files are small: read in this process
            run_notes: list[str] = []
            damage: list[str] = []
            facts = fanout.facts_of(flowstore.read_har(p, "imported", ctx.run, damage), ctx, run_notes)
        else:
            facts, run_notes, damage = results[p]
        notes += run_notes
        runs.append(RunFacts("imported", ctx.run, "imported", "", facts, [], None, NOTICE_BUILTIN, True, "imported"))
        read.append((kind, p, tuple(damage)))
    judged = judge(runs)
    for r, (kind, p, damage) in zip(runs, read):
        problems = damage + _uninspected_problem(r.exchanges)
        summaries.append(RunSummary("imported", r.run, "imported", "imported", (), f"imported {kind} file {p}",
                                    len(r.exchanges), (), not problems, problems,
                                    telemetry_requests=sum(1 for x in r.exchanges if x.collects)))
    return build(runs, summaries, policy=policy, baseline=baseline, fail_on=fail_on, capture="imported",
                 notes=notes, problems=[], redactor=Redactor(matchers=[matcher] if matcher else []), judged=judged,
                 canon=placeholders([matcher] if matcher else []))
