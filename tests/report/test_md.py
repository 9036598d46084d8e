import re

import pytest

from auditor.report import md

CODE_SPAN = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def outside_code(text: str) -> str:
    return CODE_SPAN.sub("", text)


def table_rows(text: str, heading: str) -> list[list[str]]:
    block = text.split(f"### {heading}\n\n", 1)[1].split("\n\n", 1)[0]
    return [re.split(r"(?<!\\)\|", line)[1:-1] for line in block.splitlines()]


def render(audit, tmp_path) -> str:
    path = md.render(audit, tmp_path)
    assert path == tmp_path / "summary.md"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fixture, first_line", [
    ("audit", "## egress-audit: ❌ 2 findings at or above high"),
    ("clean_audit", "## egress-audit: ✅ clean: no findings at or above high"),
    ("incomplete_audit",
     "## egress-audit: ⚠️ INCOMPLETE: the audit could not observe everything; 2 findings at or above high so far"),
])
def test_verdict_line(request, tmp_path, fixture, first_line):
    assert render(request.getfixturevalue(fixture), tmp_path).splitlines()[0] == first_line


def test_sections_and_tables(audit, tmp_path):
    text = render(audit, tmp_path)
    for heading in ("Findings by concern", "Findings", "Consent variants", "Endpoints", "Coverage", "Notes"):
        assert f"\n### {heading}\n" in text
    assert "### Problems" not in text
    concerns = table_rows(text, "Findings by concern")
    assert concerns[0] == [" concern ", " critical ", " high ", " medium ", " low ", " info ", " baselined "]
    assert [r[0].strip() for r in concerns[2:]] == ["privacy", "confidentiality", "awareness", "security"]
    assert concerns[2][1].strip() == "1" and concerns[3][-1].strip() == "1"  # baselined CONF-002
    variants = table_rows(text, "Consent variants")[2:]
    assert [r[1].strip() for r in variants] == ["`unset`", "`unset-2`", "`denied`", "`dnt`"]
    assert variants[2][2].strip() == "yes (2)" and variants[3][2].strip() == "no"
    findings = table_rows(text, "Findings")[2:]
    assert findings[0][0].strip() == "critical (baselined)" and findings[1][0].strip() == "critical **fails**"
    priv = next(r for r in findings if r[1].strip() == "PRIV-001")  # one row for a finding seen in 3 runs
    assert priv[3].strip() == "`polite-tool: unset, unset-2, dnt`"
    assert [r[1].strip() for r in findings].count("PRIV-001") == 1
    assert variants[3][6].strip() == "1 critical"  # dnt counts the grouped PRIV-001 it was seen in
    assert "- `polite-tool/unset` (`tun`: `tcp, udp, dns, http`): QUIC payloads are not decrypted" in text


def test_incomplete_lists_problems(incomplete_audit, tmp_path):
    text = render(incomplete_audit, tmp_path)
    assert "### Problems" in text
    assert "- `polite-tool/denied: sandbox could not start: tun device unavailable`" in text
    assert "unknown (capture incomplete)" in text and "`timeout`" in text and "**no**" in text


def test_long_tables_are_capped(build, tmp_path):
    many = tuple(build.finding("PRIV-005", "unset", location=f"query:q{i}") for i in range(60))
    text = render(build.audit(findings=many), tmp_path)
    assert len(table_rows(text, "Findings")) == 2 + md.MAX_FINDINGS
    assert "…and 10 more in `findings.json`." in text


def test_hostile_strings_stay_inert(hostile_audit, tmp_path):
    text = render(hostile_audit, tmp_path)
    bare = outside_code(text)
    # Outside code spans nothing can open a tag, an image or a link.
    assert not re.search(r"(?<!\\)<", bare)
    assert not re.search(r"(?<!\\)!(?<!\\)\[", bare) and "](" not in bare.replace("\\](", "")
    assert "\x00" not in text and "\u202e" not in text and "\udcff" not in text
    # Every table row keeps its column count: no pipe or newline escaped its cell.
    for heading in ("Findings", "Consent variants", "Endpoints"):
        rows = table_rows(text, heading)
        assert len({len(r) for r in rows}) == 1, heading
    assert len(text) < 20000  # the 20000-character value was clipped


def test_code_span_survives_backticks():
    assert md.code("a`b") == "``a`b``"
    assert md.code("`x`") == "`` `x` ``"
    assert md.code("a|b") == "`a\\|b`" and md.code("a|b", cell=False) == "`a|b`"
