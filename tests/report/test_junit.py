import xml.etree.ElementTree as ET

from auditor.report import junit


def load(audit, out) -> ET.Element:
    path = junit.render(audit, out)
    assert path == out / "junit.xml"
    return ET.fromstring(path.read_bytes())


def cases(root, classname=None):
    return {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")
            if classname is None or c.get("classname") == classname}


def test_suites_and_cases(audit, tmp_path):
    root = load(audit, tmp_path)
    assert [s.get("name") for s in root.findall("testsuite")] == ["egress-audit", "polite-tool"]
    scenario = root.findall("testsuite")[1]
    names = [(c.get("classname"), c.get("name")) for c in scenario.findall("testcase")]
    runs = ["unset", "unset-2", "denied", "dnt"]
    concerns = ["capture complete", "privacy", "confidentiality", "awareness", "security"]
    assert names == [(f"polite-tool.{r}", c) for r in runs for c in concerns]
    # PRIV-001 was seen in unset, unset-2 and dnt: it fails the privacy case of each of them.
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("21", "4", "0")
    assert (scenario.get("tests"), scenario.get("failures")) == ("20", "4")


def test_findings_at_or_above_fail_on_fail_their_concern(audit, tmp_path):
    c = cases(load(audit, tmp_path))
    failed = sorted(k for k, v in c.items() if v.find("failure") is not None)
    assert failed == [("polite-tool.denied", "awareness"), ("polite-tool.dnt", "privacy"),
                      ("polite-tool.unset", "privacy"), ("polite-tool.unset-2", "privacy")]
    grouped = c[("polite-tool.dnt", "privacy")].find("failure")
    assert "PRIV-001" in grouped.text and "in unset, unset-2, dnt" in grouped.text
    failure = c[("polite-tool.denied", "awareness")].find("failure")
    assert failure.get("type") == "CONSENT-001"
    assert failure.get("message") == "1 finding at or above high: CONSENT-001"
    assert "CRITICAL CONSENT-001" in failure.text and "body:$.events[0].user" in failure.text
    # Below the bar (PRIV-004 medium) and baselined (CONF-002) are reported, not failed.
    assert "PRIV-004" in c[("polite-tool.unset", "privacy")].find("system-out").text
    conf = c[("polite-tool.denied", "confidentiality")]
    assert conf.find("failure") is None and "(baselined)" in conf.find("system-out").text


def test_fail_on_moves_the_bar(build, tmp_path):
    never = cases(load(build.audit(fail_on="never"), tmp_path / "a"))
    assert all(c.find("failure") is None for c in never.values())
    medium = cases(load(build.audit(fail_on="medium"), tmp_path / "b"))
    privacy = medium[("polite-tool.unset", "privacy")].find("failure")
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
    denied = cases(root, "polite-tool.denied")
    assert denied[("polite-tool.denied", "capture complete")].find("failure") is not None
    # CONSENT-001 still fails; the concerns with nothing seen prove nothing, so they are skipped.
    assert denied[("polite-tool.denied", "awareness")].find("failure") is not None
    assert denied[("polite-tool.denied", "security")].find("skipped") is not None
    # Findings also name unset-2 and dnt, which have no run here: their 3 passing concerns each are
    # skipped as well (the audit is incomplete), as are denied's.
    assert root.get("skipped") == "9"


def test_scenario_wide_findings_get_concern_cases_only(build, tmp_path):
    audit = build.audit(findings=(build.finding("SEC-001", "all"),))
    c = cases(load(audit, tmp_path), "polite-tool.all")
    assert sorted(name for _, name in c) == ["awareness", "confidentiality", "privacy", "security"]
    assert c[("polite-tool.all", "security")].find("failure") is not None


def test_hostile_text_is_well_formed_xml(hostile_audit, tmp_path):
    root = load(hostile_audit, tmp_path)  # parses: no NUL, no lone surrogate
    raw = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert "\x00" not in raw and "\u202e" not in raw and "<script>" not in raw
    text = cases(root)[("polite-tool.unset", "privacy")].find("failure").text
    assert "<script>alert(1)</script>" in text  # shown as text, escaped on disk


def test_deterministic(audit, tmp_path):
    assert junit.render(audit, tmp_path / "a").read_bytes() == junit.render(audit, tmp_path / "b").read_bytes()
