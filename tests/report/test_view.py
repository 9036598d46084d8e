import pytest

from auditor.report import view


@pytest.mark.parametrize("raw, shown", [
    ("plain host.example", "plain host.example"),
    ("a\x00b", "a\\x00b"),
    ("line\nbreak\r\ttab", "line\\x0abreak\\x0d\\x09tab"),
    ("evil\u202egnp.exe", "evil\\u202egnp.exe"),
    ("zero\u200bwidth\u2066iso", "zero\\u200bwidth\\u2066iso"),
    ("c1\x85ctl", "c1\\x85ctl"),
    ("bad\udcffbyte", "bad\\udcffbyte"),
    ("ünïcödé 日本 ok", "ünïcödé 日本 ok"),  # ordinary non-ASCII text is kept
])
def test_printable(raw, shown):
    assert view.printable(raw) == shown
    assert view.printable(shown) == shown  # idempotent


def test_clip_marks_what_was_cut():
    assert view.clip("abc", 5) == "abc"
    assert view.clip("A" * 12, 5) == "AAAAA… (+7 chars)"


def test_variant_order():
    names = ["tty", "unset-10", "custom", "denied", "unset-2", "unset", "ci", "untrusted-ca"]
    assert view.sorted_variants(names) == [
        "unset", "unset-2", "unset-10", "denied", "ci", "tty", "untrusted-ca", "custom"]


def test_findings_sorted_by_severity_then_rule(audit):
    rules = [f.rule for f in view.sorted_findings(audit.findings)]
    assert rules == ["CONF-002", "CONSENT-001", "PRIV-001", "PRIV-004", "EGRESS-001"]


@pytest.mark.parametrize("changes, state, code, words", [
    ({}, "fail", 1, "2 findings at or above high"),
    ({"fail_on": "critical"}, "fail", 1, "2 findings at or above critical"),
    # --fail-on never enforces nothing, but findings must never be called clean
    ({"fail_on": "never"}, "findings", 0, "4 findings, worst critical"),
    ({"fail_on": "never", "findings": ()}, "pass", 0, "clean: no findings"),
    ({"findings": ()}, "pass", 0, "clean: no findings at or above high"),
    ({"complete": False}, "incomplete", 3, "INCOMPLETE"),
    ({"complete": False, "findings": ()}, "incomplete", 3, "INCOMPLETE"),
])
def test_verdict(build, changes, state, code, words):
    audit = build.audit(**changes)
    v = view.verdict(audit)
    assert (v.state, v.exit_code) == (state, code) == (state, audit.exit_code)
    assert words in v.headline


def test_clean_verdict_mentions_findings_below_the_bar(build):
    audit = build.audit(findings=(build.finding("PRIV-004", "unset"),))
    assert view.verdict(audit).headline == "clean: no findings at or above high (1 below)"


def test_summary_leaves_baselined_findings_out_of_counts(audit):
    s = view.summary(audit)
    assert (s["findings"], s["counted"], s["baselined"], s["failing"]) == (5, 4, 1, 2)
    assert s["by_severity"] == {"critical": 2, "high": 0, "medium": 1, "low": 0, "info": 1}
    assert s["by_concern"] == {"privacy": 2, "confidentiality": 0, "awareness": 2, "security": 0}


def test_all_problems_names_the_run(incomplete_audit):
    assert view.all_problems(incomplete_audit) == [
        "1 of 2 runs failed to capture",
        "polite-tool/denied: sandbox could not start: tun device unavailable"]


def test_run_dir_is_relative_inside_out(build, tmp_path):
    inside = build.run("unset", dir=tmp_path / "runs" / "polite-tool" / "unset")
    outside = build.run("unset", dir=tmp_path / "elsewhere")
    assert view.run_dir(inside, tmp_path) == "runs/polite-tool/unset"
    assert view.run_dir(outside, tmp_path / "out") == (tmp_path / "elsewhere").as_posix()
    assert view.run_dir(build.run("unset"), tmp_path) is None


def test_write_text_leaves_no_temporary_file(tmp_path):
    path = view.write_text(tmp_path / "sub" / "x.txt", "hello")
    assert path.read_text() == "hello"
    assert [p.name for p in path.parent.iterdir()] == ["x.txt"]


@pytest.mark.parametrize("changes", [{}, {"findings": ()}, {"complete": False}, {"fail_on": "never"}])
def test_every_verdict_says_when_a_run_was_uncontained(build, changes):
    runs = (build.run("unset", isolation="contained"), build.run("denied", isolation="uncontained"))
    v = view.verdict(build.audit(runs=runs, **changes))
    assert v.headline.endswith("— uncontained: 1 run ran without the sandbox, so the program could have "
                               "changed the host or the capture")
    assert v.exit_code == build.audit(**changes).exit_code  # it says so; it does not change the outcome
    contained = view.verdict(build.audit(runs=(build.run("unset", isolation="contained"),), **changes))
    assert "uncontained" not in contained.headline
