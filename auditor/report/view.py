"""What every renderer shows, decided once: order, verdict, counts, and captured text made safe.

Renderers disagree on syntax, never on content: a finding that sorts first in the HTML sorts first
in the SARIF, and "INCOMPLETE" means the same thing in every file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import safetext
from ..audit import Audit, Endpoint, RunSummary
from ..findings import SEVERITIES, SEVERITY_RANK, Finding, run_key

CONCERNS = {  # SPEC §1, in the order the Linux Foundation policy asks them
    "privacy": "Can the data identify or track a person? Does it carry personal data?",
    "confidentiality": "Does it leak business-sensitive data (paths, repo names, hostnames, secrets)?",
    "awareness": "Opt-in or opt-out? Notice before collection? Is refusal honoured? "
                 "Can automated installs bypass consent?",
    "security": "Does the phone-home open holes (plaintext, unverified TLS, code over insecure "
                "channels), even for users who refused?",
}

ENDPOINT_CLASS_ORDER = ("telemetry", "unknown", "functional")


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


def verdict(audit: Audit) -> Verdict:
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


def runs_text(f: Finding, limit: int = 200) -> str:
    """The runs a finding was seen in, as one line: "unset, unset-2, denied"."""
    return clip(", ".join(f.runs), limit)


# --- files -----------------------------------------------------------------------------------

def write_text(path: Path, text: str, errors: str = "strict") -> Path:
    """Write via a temporary file and rename, so CI never uploads a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", errors=errors, newline="\n") as fo:
            fo.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
