"""junit.xml: the audit as tests, for CI systems that show test results but not SARIF.

The test set is the same in every audit of a scenario, so CI test history tracks a concern turning
red rather than a stream of one-off test names. One suite per scenario: one case per concern,
listing its findings once each with the runs they were seen in (the grouping of every other
report); per run, a "capture complete" case timed with the run's duration and one case per step
timed with the step's. A concern that passed while a capture was incomplete is reported as
skipped: it proves nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..audit import Audit, RunSummary
from ..findings import Finding
from . import view

FILENAME = "junit.xml"
TOOL_SUITE = "egress-audit"


def _line(f: Finding) -> str:
    ev = f.evidence
    runs = f.runs
    where = ""
    if ev:
        chain = " > ".join(ev.layers)
        where = f" at {ev.location}" + (f" via {chain}" if chain else "")
        where += f" [{ev.match}: {ev.excerpt}]" if ev.excerpt else f" [{ev.match}]"
    base = " (baselined)" if f.baselined else ""
    return view.clip(f"{f.severity.upper()} {f.rule} {f.title}: {f.host or '-'}{where} in {', '.join(runs)} "
                     f"({f.confidence}) id={f.id}{base}", 1000)


class _Suite:
    def __init__(self, parent: ET.Element, name: str, timestamp: str):
        self.el = ET.SubElement(parent, "testsuite", name=view.clip(name), timestamp=timestamp)
        self.tests = self.failures = self.skipped = 0
        self.time = 0.0

    def case(self, classname: str, name: str, seconds: float = 0.0, part_of_run: bool = False) -> ET.Element:
        """part_of_run: a step's time is already inside its run's, so the suite does not add it."""
        self.tests += 1
        self.time += 0.0 if part_of_run else seconds
        return ET.SubElement(self.el, "testcase", classname=view.clip(classname), name=view.clip(name),
                             time=f"{seconds:.3f}")

    def fail(self, case: ET.Element, kind: str, message: str, text: str) -> None:
        self.failures += 1
        el = ET.SubElement(case, "failure", type=kind, message=view.clip(message, 500))
        el.text = text

    def skip(self, case: ET.Element, message: str) -> None:
        self.skipped += 1
        ET.SubElement(case, "skipped", message=message)

    def close(self) -> None:
        self.el.attrib.update(tests=str(self.tests), failures=str(self.failures), errors="0",
                              skipped=str(self.skipped), time=f"{self.time:.3f}")


def _audit_suite(root: ET.Element, audit: Audit) -> _Suite:
    suite = _Suite(root, TOOL_SUITE, audit.created)
    props = ET.SubElement(suite.el, "properties")
    for k, v in (("tool_version", audit.tool_version), ("capture", audit.capture),
                 ("fail_on", audit.fail_on), ("verdict", view.verdict(audit).headline)):
        ET.SubElement(props, "property", name=k, value=view.clip(v))
    case = suite.case(TOOL_SUITE, "audit complete")
    if not audit.complete:
        problems = view.all_problems(audit) or ["the audit was marked incomplete"]
        suite.fail(case, "incomplete", view.verdict(audit).headline,
                   "\n".join(view.clip(p, 2000) for p in problems))
    return suite


def _run_cases(suite: _Suite, scenario: str, run: RunSummary) -> None:
    classname = f"{scenario}.{run.name}"
    case = suite.case(classname, "capture complete", run.duration)
    ET.SubElement(case, "system-out").text = view.clip(
        f"capture={run.capture} coverage={','.join(run.coverage) or 'none'} flows={run.flows} "
        f"exit_codes={list(run.exit_codes)}: {run.coverage_note}", 2000)
    if not run.complete:
        suite.fail(case, "incomplete", f"capture of {scenario}/{run.name} is incomplete",
                   "\n".join(view.clip(p, 2000) for p in run.problems) or "no reason recorded")
    for step in run.steps:
        case = suite.case(classname, f"step {step.name}", max(0.0, step.end - step.start), part_of_run=True)
        if not step.ok:
            code = "timed out" if step.exit_code is None else f"exit code {step.exit_code}"
            suite.fail(case, "step", f"step {step.name} ended with {code}, not as the scenario expects",
                       f"{scenario}/{run.name}: the program did not do what the scenario says; "
                       "what it would have sent afterwards was not observed")


def _concern_cases(suite: _Suite, audit: Audit, scenario: str) -> None:
    findings = view.sorted_findings(f for f in audit.findings if f.scenario == scenario)
    runs = view.runs_of(audit, scenario)
    complete = all(r.complete for r in runs) if runs else audit.complete
    for concern in view.CONCERNS:
        mine = [f for f in findings if f.concern == concern]
        case = suite.case(scenario, concern)
        failing = [f for f in mine if view.is_failing(audit, f)]
        if failing:
            rules = ", ".join(dict.fromkeys(f.rule for f in failing))
            suite.fail(case, failing[0].rule,
                       f"{len(failing)} finding{'s' * (len(failing) != 1)} at or above "
                       f"{audit.fail_on}: {rules}", "\n".join(_line(f) for f in failing))
        elif not complete:
            suite.skip(case, "capture incomplete: a pass here proves nothing")
        rest = [f for f in mine if f not in failing]
        if rest:
            ET.SubElement(case, "system-out").text = "\n".join(_line(f) for f in rest)


def document(audit: Audit) -> ET.Element:
    root = ET.Element("testsuites", name=TOOL_SUITE, timestamp=audit.created)
    suites = [_audit_suite(root, audit)]
    for scenario in view.scenario_names(audit):
        suite = _Suite(root, scenario, audit.created)
        _concern_cases(suite, audit, scenario)
        for run in view.runs_of(audit, scenario):
            _run_cases(suite, scenario, run)
        suites.append(suite)
    for s in suites:
        s.close()
    root.attrib.update(tests=str(sum(s.tests for s in suites)),
                       failures=str(sum(s.failures for s in suites)), errors="0",
                       skipped=str(sum(s.skipped for s in suites)),
                       time=f"{sum(s.time for s in suites):.3f}")
    return root


def render(audit: Audit, out: Path) -> Path:
    root = document(audit)
    ET.indent(root)
    # Every captured string went through view.clip, so the text holds only characters XML 1.0
    # allows; ElementTree escapes markup.
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return view.write_text(out / FILENAME, '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n")
