"""junit.xml: the audit as tests, for CI systems that show test results but not SARIF.

The test set is the same in every audit of a scenario (one suite per scenario; per run, a
"capture complete" case and one case per concern), so CI test history tracks a concern turning red
rather than a stream of one-off test names. A concern that passed in a run whose capture was
incomplete is reported as skipped: it proves nothing.
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
    where = ""
    if ev:
        chain = " > ".join(ev.layers)
        where = f" at {ev.location}" + (f" via {chain}" if chain else "")
        where += f" [{ev.match}: {ev.excerpt}]" if ev.excerpt else f" [{ev.match}]"
    base = " (baselined)" if f.baselined else ""
    runs = f" in {', '.join(f.runs)}" if len(f.runs) > 1 else ""
    return view.clip(f"{f.severity.upper()} {f.rule} {f.title}: {f.host or '-'}{where}{runs} "
                     f"({f.confidence}) id={f.id}{base}", 1000)


class _Suite:
    def __init__(self, parent: ET.Element, name: str, timestamp: str):
        self.el = ET.SubElement(parent, "testsuite", name=view.clip(name), timestamp=timestamp)
        self.tests = self.failures = self.skipped = 0

    def case(self, classname: str, name: str) -> ET.Element:
        self.tests += 1
        return ET.SubElement(self.el, "testcase", classname=view.clip(classname), name=name, time="0")

    def fail(self, case: ET.Element, kind: str, message: str, text: str) -> None:
        self.failures += 1
        el = ET.SubElement(case, "failure", type=kind, message=view.clip(message, 500))
        el.text = text

    def skip(self, case: ET.Element, message: str) -> None:
        self.skipped += 1
        ET.SubElement(case, "skipped", message=message)

    def close(self) -> None:
        self.el.attrib.update(tests=str(self.tests), failures=str(self.failures), errors="0",
                              skipped=str(self.skipped), time="0")


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


def _run_cases(suite: _Suite, audit: Audit, scenario: str, name: str, run: RunSummary | None):
    classname = f"{scenario}.{name}"
    complete = run.complete if run else audit.complete
    # Findings about a scenario as a whole (variant "all") have no capture of their own to judge.
    if run is not None:
        case = suite.case(classname, "capture complete")
        ET.SubElement(case, "system-out").text = view.clip(
            f"capture={run.capture} coverage={','.join(run.coverage) or 'none'} flows={run.flows} "
            f"exit_codes={list(run.exit_codes)}: {run.coverage_note}", 2000)
        if not run.complete:
            suite.fail(case, "incomplete", f"capture of {scenario}/{name} is incomplete",
                       "\n".join(view.clip(p, 2000) for p in run.problems) or "no reason recorded")
    findings = view.findings_of_run(audit, scenario, name)
    for concern in view.CONCERNS:
        mine = [f for f in findings if f.concern == concern]
        case = suite.case(classname, concern)
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
        names = [r.name for r in view.runs_of(audit, scenario)]
        names += [r for f in audit.findings if f.scenario == scenario for r in f.runs]
        for name in view.sorted_variants(names):
            _run_cases(suite, audit, scenario, name, view.run_of(audit, scenario, name))
        suites.append(suite)
    for s in suites:
        s.close()
    root.attrib.update(tests=str(sum(s.tests for s in suites)),
                       failures=str(sum(s.failures for s in suites)), errors="0",
                       skipped=str(sum(s.skipped for s in suites)), time="0")
    return root


def render(audit: Audit, out: Path) -> Path:
    root = document(audit)
    ET.indent(root)
    # Every captured string went through view.clip, so the text holds only characters XML 1.0
    # allows; ElementTree escapes markup.
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return view.write_text(out / FILENAME, '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n")
