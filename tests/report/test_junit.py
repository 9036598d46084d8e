import xml.etree.ElementTree as ET

from auditor.report import junit


def load(audit, out) -> ET.Element:
    path = junit.render(audit, out)
    assert path == out / "junit.xml"
    return ET.fromstring(path.read_bytes())


def cases(root, classname=None):
    return {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")
            if classname is None or c.get("classname") == classname}


CONCERNS = ["privacy", "confidentiality", "awareness", "security"]


def test_suites_and_cases(audit, tmp_path):
    root = load(audit, tmp_path)
    assert [s.get("name") for s in root.findall("testsuite")] == ["egress-audit", "polite-tool"]
    scenario = root.findall("testsuite")[1]
    names = [(c.get("classname"), c.get("name")) for c in scenario.findall("testcase")]
    runs = ["unset", "unset-2", "denied", "dnt"]
    per_run = ["capture complete", "step install", "step first-use"]
    assert names == [("polite-tool", c) for c in CONCERNS] + [(f"polite-tool.{r}", c) for r in runs for c in per_run]
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("17", "2", "0")
    assert (scenario.get("tests"), scenario.get("failures")) == ("16", "2")


def test_step_durations(audit, tmp_path):
    root = load(audit, tmp_path)
    c = cases(root, "polite-tool.unset")
    assert c[("polite-tool.unset", "step install")].get("time") == "1.000"
    assert c[("polite-tool.unset", "step first-use")].get("time") == "2.000"
    assert c[("polite-tool.unset", "capture complete")].get("time") == "3.000"
    # The suite's time is the runs' time: steps are inside their run's, not added twice.
    assert root.findall("testsuite")[1].get("time") == "12.000" and root.get("time") == "12.000"


def test_a_step_not_as_expected_fails_its_case(build, tmp_path):
    from auditor.audit import StepSpan
    runs = (build.run("unset", steps=(StepSpan("install", 0.0, 30.0, None, False),), duration=30.0),)
    case = cases(load(build.audit(runs=runs, findings=()), tmp_path))[("polite-tool.unset", "step install")]
    failure = case.find("failure")
    assert failure.get("type") == "step" and "timed out" in failure.get("message")


def test_findings_at_or_above_fail_on_fail_their_concern_once(audit, tmp_path):
    c = cases(load(audit, tmp_path))
    failed = sorted(k for k, v in c.items() if v.find("failure") is not None)
    assert failed == [("polite-tool", "awareness"), ("polite-tool", "privacy")]
    failure = c[("polite-tool", "awareness")].find("failure")
    assert failure.get("type") == "CONSENT-001"
    assert failure.get("message") == "1 finding at or above high: CONSENT-001"
    assert "CRITICAL CONSENT-001" in failure.text and "body:$.events[0].user" in failure.text
    assert "in denied" in failure.text
    # Below the bar (PRIV-004 medium) and baselined (CONF-002) are reported, not failed.
    assert "PRIV-004" in c[("polite-tool", "privacy")].find("system-out").text
    conf = c[("polite-tool", "confidentiality")]
    assert conf.find("failure") is None and "(baselined)" in conf.find("system-out").text


def test_grouped_finding_is_listed_once_with_its_runs(audit, tmp_path):
    # PRIV-001 of the fixture was seen in unset, unset-2 and dnt: one line, in one case.
    text = cases(load(audit, tmp_path))[("polite-tool", "privacy")].find("failure").text
    assert len(text.splitlines()) == 1 and "in unset, unset-2, dnt" in text


def test_fail_on_moves_the_bar(build, tmp_path):
    never = cases(load(build.audit(fail_on="never"), tmp_path / "a"))
    assert all(c.find("failure") is None for c in never.values())
    medium = cases(load(build.audit(fail_on="medium"), tmp_path / "b"))
    privacy = medium[("polite-tool", "privacy")].find("failure")
    assert privacy.get("message") == "2 findings at or above medium: PRIV-001, PRIV-004"


def test_audit_complete_case(audit, incomplete_audit, tmp_path):
    ok = cases(load(audit, tmp_path / "a"))[("egress-audit", "audit complete")]
    assert ok.find("failure") is None
    bad = cases(load(incomplete_audit, tmp_path / "b"))[("egress-audit", "audit complete")]
    failure = bad.find("failure")
    assert failure.get("type") == "incomplete"
    assert failure.get("message").startswith("INCOMPLETE")
    assert "tun device unavailable" in failure.text and "1 of 2 runs failed" in failure.text


def test_incomplete_run_fails_capture_and_skips_passing_concerns(incomplete_audit, tmp_path):
    root = load(incomplete_audit, tmp_path)
    c = cases(root)
    assert c[("polite-tool.denied", "capture complete")].find("failure") is not None
    # CONSENT-001 still fails; the concerns with nothing seen prove nothing, so they are skipped.
    assert c[("polite-tool", "awareness")].find("failure") is not None
    assert c[("polite-tool", "security")].find("skipped") is not None
    assert root.get("skipped") == "2"  # confidentiality (only a baselined finding) and security


def test_hostile_text_is_well_formed_xml(hostile_audit, tmp_path):
    root = load(hostile_audit, tmp_path)  # parses: no NUL, no lone surrogate
    raw = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert "\x00" not in raw and "\u202e" not in raw and "<script>" not in raw
    text = cases(root)[("polite-tool", "privacy")].find("failure").text
    assert "<script>alert(1)</script>" in text  # shown as text, escaped on disk


def test_deterministic(audit, tmp_path):
    assert junit.render(audit, tmp_path / "a").read_bytes() == junit.render(audit, tmp_path / "b").read_bytes()
