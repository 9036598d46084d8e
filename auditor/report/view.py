"""What every renderer shows, decided once: order, verdict, counts, and captured text made safe.

Renderers disagree on syntax, never on content: a finding that sorts first in the HTML sorts first
in the SARIF, and "INCOMPLETE" means the same thing in every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import outfiles, safetext
from ..audit import CLASS_ORDER, Audit, Endpoint, RunSummary
from ..findings import SEVERITIES, SEVERITY_RANK, Finding, run_key

CONCERNS = {  # SPEC §1, in the order the Linux Foundation policy asks them
    "privacy": "Can the data identify or track a person? Does it carry personal data?",
    "confidentiality": "Does it leak business-sensitive data (paths, repo names, hostnames, secrets)?",
    "awareness": "Opt-in or opt-out? Notice before collection? Is refusal honoured? "
                 "Can automated installs bypass consent?",
    "security": "Does the phone-home open holes (plaintext, unverified TLS, code over insecure "
                "channels), even for users who refused?",
}

ENDPOINT_CLASS_ORDER = CLASS_ORDER


# --- captured text: one helper for every renderer and the terminal (see safetext) ----------
printable = safetext.printable
clip = safetext.clip


# --- ordering ------------------------------------------------------------------------------

def finding_key(f: Finding) -> tuple:
    ev = f.evidence
    return (-SEVERITY_RANK[f.severity], f.rule, f.scenario, variant_key(f.variant), f.host,
            ev.location if ev else "", f.id)


def sorted_findings(findings) -> list[Finding]:
    return sorted(findings, key=finding_key)


variant_key = run_key  # unset, unset-2, …, unset-10, denied, …; unknown variants last


def scenario_names(audit: Audit) -> list[str]:
    """Scenarios in the audit's order, then any that only appear in runs or findings."""
    names = list(dict.fromkeys(audit.scenarios))
    for s in [r.scenario for r in audit.runs] + [f.scenario for f in audit.findings]:
        if s not in names:
            names.append(s)
    return names


def runs_of(audit: Audit, scenario: str) -> list[RunSummary]:
    return sorted((r for r in audit.runs if r.scenario == scenario), key=lambda r: variant_key(r.name))


def endpoint_key(e: Endpoint) -> tuple:
    rank = ENDPOINT_CLASS_ORDER.index(e.cls) if e.cls in ENDPOINT_CLASS_ORDER else len(ENDPOINT_CLASS_ORDER)
    return (rank, e.host)


def sorted_variants(names) -> list[str]:
    return sorted(set(names), key=variant_key)


# --- verdict and counts ----------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    state: str  # pass | fail | findings (reported, not enforced) | incomplete
    headline: str  # one line, same words in every format
    exit_code: int
    meaning: str  # what the exit code tells a CI pipeline


def uncontained(audit: Audit) -> str:
    """" — uncontained: …" when any run ran without the sandbox, else "": part of every verdict."""
    n = sum(r.isolation == "uncontained" for r in audit.runs)
    if not n:
        return ""
    return (f" — uncontained: {n} run{'s' * (n != 1)} ran without the sandbox, so the program could "
            "have changed the host or the capture")


def verdict(audit: Audit) -> Verdict:
    v = _verdict(audit)
    note = uncontained(audit)
    return Verdict(v.state, v.headline + note, v.exit_code, v.meaning) if note else v


def _verdict(audit: Audit) -> Verdict:
    failing = len(audit.failing())
    bar = f"at or above {audit.fail_on}"
    if not audit.complete:
        also = f"; {failing} finding{'s' * (failing != 1)} {bar} so far" if failing else ""
        return Verdict("incomplete", f"INCOMPLETE: the audit could not observe everything{also}", 3,
                       "exit 3: the capture failed or did not cover every run, so the absence "
                       "of findings proves nothing")
    if failing:
        return Verdict("fail", f"{failing} finding{'s' * (failing != 1)} {bar}", 1,
                       f"exit 1: findings {bar} (--fail-on {audit.fail_on})")
    below = len(audit.counted())
    if audit.fail_on == "never":
        # Nothing can fail the run, but findings are findings: never call them "clean".
        if below:
            worst = next(s for s in SEVERITIES if any(f.severity == s for f in audit.counted()))
            return Verdict("findings", f"{below} finding{'s' * (below != 1)}, worst {worst}", 0,
                           "exit 0: --fail-on never (findings are reported, not enforced)")
        return Verdict("pass", "clean: no findings", 0, "exit 0: no findings")
    rest = f": no findings {bar}" + (f" ({below} below)" if below else "")
    return Verdict("pass", f"clean{rest}", 0, f"exit 0: nothing {bar}")


def is_failing(audit: Audit, f: Finding) -> bool:
    return not f.baselined and audit.fail_on != "never" and \
        SEVERITY_RANK[f.severity] >= SEVERITY_RANK[audit.fail_on]


def summary(audit: Audit) -> dict:
    """Counts of findings that count (baselined ones are counted apart)."""
    counted = audit.counted()
    return {
        "findings": len(audit.findings),
        "counted": len(counted),
        "baselined": len(audit.findings) - len(counted),
        "failing": len(audit.failing()),
        "by_severity": {s: sum(f.severity == s for f in counted) for s in SEVERITIES},
        "by_concern": {c: sum(f.concern == c for f in counted) for c in CONCERNS},
    }


def all_problems(audit: Audit) -> list[str]:
    """Audit-level problems, then each run's, prefixed with scenario/run."""
    out = list(audit.problems)
    for s in scenario_names(audit):
        out += [f"{s}/{r.name}: {p}" for r in runs_of(audit, s) for p in r.problems]
    return out


def run_dir(run: RunSummary, out: Path) -> str | None:
    """The run directory as written in reports: relative to the output directory when inside it
    (so a moved or downloaded report still points at its runs), else as recorded."""
    if run.dir is None:
        return None
    try:
        return Path(run.dir).resolve().relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return Path(run.dir).as_posix()


def run_of(audit: Audit, scenario: str, name: str) -> RunSummary | None:
    return next((r for r in audit.runs if r.scenario == scenario and r.name == name), None)


def findings_of_run(audit: Audit, scenario: str, name: str) -> list[Finding]:
    """Findings seen in that run, including those grouped with other runs."""
    return sorted_findings(f for f in audit.findings if f.scenario == scenario and name in f.runs)


# --- the reviewer's questions ----------------------------------------------------------------

# Each concern as one yes/no question; "yes" is the finding a reviewer has to act on.
ASKED = {
    "privacy": "Does it send data that identifies or tracks a person?",
    "confidentiality": "Does it leak business-sensitive data or credentials?",
    "awareness": "Does it collect without informed consent (opt-out, no notice, refusal ignored, CI)?",
    "security": "Does the phone-home open security holes?",
}


@dataclass(frozen=True)
class Answer:
    concern: str
    question: str
    answer: str  # yes | no | unknown (incomplete audit, nothing seen)
    decider: Finding | None  # the finding that decides a "yes": the most severe one
    count: int  # counted findings of the concern (info included)
    baselined: int


def answers(audit: Audit) -> list[Answer]:
    """The four concerns answered: yes when a counted finding above info says so (info findings,
    such as an undeclared endpoint, are noted but answer nothing)."""
    out = []
    for concern, question in ASKED.items():
        mine = sorted_findings(f for f in audit.counted() if f.concern == concern)
        deciding = [f for f in mine if f.severity != "info"]
        base = sum(f.baselined and f.concern == concern for f in audit.findings)
        answer = "yes" if deciding else ("unknown" if not audit.complete else "no")
        out.append(Answer(concern, question, answer, deciding[0] if deciding else None, len(mine), base))
    return out


@dataclass(frozen=True)
class Cell:
    state: str  # sent | notice-first | expected | contact | lookup | none | unknown
    text: str  # what the cell says
    title: str  # the longer statement (tooltip, and the stacked layout on phones)


@dataclass(frozen=True)
class GridRow:
    run: RunSummary
    cells: tuple[Cell, ...]
    rules: tuple[str, ...]  # consent rules seen in this run


@dataclass(frozen=True)
class Grid:
    scenario: str
    hosts: tuple[Endpoint, ...]  # the columns
    folded: tuple[str, ...]  # functional hosts shown as one column ("" when none)
    rows: tuple[GridRow, ...]


MAX_GRID_HOSTS = 6


def _cell(run: RunSummary, contacts) -> Cell:
    contacts = list(contacts)
    sent = [c for c in contacts if c.payload]
    if sent:
        n = len(sent)
        first = sent[0].at
        what = f"{n} request{'s' * (n != 1)} with data, the first at {first:.1f} s"
        if run.variant == "granted":
            return Cell("expected", f"sent ×{n}", f"{what}; consent was granted")
        if run.notice_at is not None and run.notice_at <= first:
            return Cell("notice-first", f"after notice ×{n}", f"{what}, after the notice at {run.notice_at:.1f} s")
        notice = f"before the notice at {run.notice_at:.1f} s" if run.notice_at is not None else "no notice shown"
        return Cell("sent", f"sent ×{n}", f"{what}, {notice}")
    if any(c.kind != "dns" for c in contacts):
        return Cell("contact", "contact, no data", "connected or requested without sending data")
    if contacts:
        return Cell("lookup", "looked up", "only a DNS lookup of the name")
    if not run.complete:
        return Cell("unknown", "unknown", "the capture of this run is incomplete")
    return Cell("none", "—", "nothing sent")


def consent_grid(audit: Audit, scenario: str) -> Grid:
    """Variants × endpoints: did data leave, and did the notice come first.

    Columns are the endpoints that are not declared functional (telemetry first, at most
    MAX_GRID_HOSTS); functional hosts (package registries, declared update checks) fold into one
    column, as do endpoints past the limit."""
    runs = runs_of(audit, scenario)
    names = {r.name for r in runs}
    seen = {c.host for r in runs for c in r.contacts}
    eps = sorted((e for e in audit.endpoints if e.host in seen or set(e.variants) & names), key=endpoint_key)
    shown = [e for e in eps if e.cls != "functional"][:MAX_GRID_HOSTS]
    folded = tuple(e.host for e in eps if e not in shown)
    rows = []
    for r in runs:
        cells = [_cell(r, (c for c in r.contacts if c.host == e.host)) for e in shown]
        if folded:
            cells.append(_cell(r, (c for c in r.contacts if c.host in folded)))
        rules = tuple(dict.fromkeys(f.rule for f in findings_of_run(audit, scenario, r.name)
                                    if f.rule.startswith("CONSENT-") and not f.baselined))
        rows.append(GridRow(r, tuple(cells), rules))
    return Grid(scenario, tuple(shown), folded, tuple(rows))


def coverage_text(run: RunSummary) -> str:
    seen = ", ".join(run.coverage) or "nothing"
    return f"{run.capture} capture of {seen}: {run.coverage_note or 'nothing known to be missed'}"


def coverage(audit: Audit) -> tuple[str, list[tuple[str, str]]]:
    """Coverage stated once (what most runs share) and the runs that differ from it."""
    runs = [r for s in scenario_names(audit) for r in runs_of(audit, s)]
    if not runs:
        return "", []
    texts = [coverage_text(r) for r in runs]
    common = max(dict.fromkeys(texts), key=texts.count)
    return common, [(f"{r.scenario}/{r.name}", t) for r, t in zip(runs, texts) if t != common]


# --- files -----------------------------------------------------------------------------------

def write_text(path: Path, text: str, errors: str = "strict") -> Path:
    """Write via a temporary file and rename, so CI never uploads a half-written report; 0600,
    never through a planted link (outfiles)."""
    if not path.parent.is_dir():
        path.parent.mkdir(mode=outfiles.DIR_MODE, parents=True, exist_ok=True)
    return outfiles.write_text(path, text, errors)
