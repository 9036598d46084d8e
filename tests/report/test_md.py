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
    for heading in ("The four questions", "Consent grid: `polite-tool`", "Findings", "Endpoints", "Coverage",
                    "Notes"):
        assert f"\n### {heading}\n" in text
    assert "### Problems" not in text
    answers = table_rows(text, "The four questions")
    assert [r[0].strip() for r in answers[2:]] == ["privacy", "confidentiality", "awareness", "security"]
    assert answers[2][2].strip() == "**yes**" and answers[2][3].strip().startswith("PRIV-001 Known personal data sent")
    assert answers[3][2].strip() == "no" and "1 baselined" in answers[3][3]  # CONF-002 baselined
    grid = table_rows(text, "Consent grid: `polite-tool`")
    assert [c.strip() for c in grid[0]] == ["variant", "`telemetry.polite-tool.example`", "`cdn.polite-tool.example`",
                                            "1 other host", "notice", "consent rules"]  # functional, folded
    assert [r[0].strip() for r in grid[2:]] == ["`unset`", "`unset-2`", "`denied`", "`dnt`"]
    assert grid[2][1].strip() == "**sent ×2**" and grid[4][1].strip() == "after notice ×1"
    assert grid[4][-1].strip() == "CONSENT-001" and grid[5][1].strip() == "—"
    findings = table_rows(text, "Findings")[2:]
    assert findings[0][0].strip() == "critical (baselined)" and findings[1][0].strip() == "critical **fails**"
    endpoints = table_rows(text, "Endpoints")
    assert [c.strip() for c in endpoints[0]][-3:] == ["HTTP requests", "DNS lookups", "other flows"]
    assert "All runs: tun capture of tcp, udp, dns, http: QUIC payloads are not decrypted" in text
    assert "`install` 0 (1.0 s), `first-use` 0 (2.0 s)" in text


def test_grouped_findings_list_their_runs(build, tmp_path):
    f = build.finding("PRIV-001", "unset", variants=("unset", "unset-2", "dnt"))
    text = render(build.audit(findings=(f,)), tmp_path)
    [row] = table_rows(text, "Findings")[2:]
    assert row[5].strip() == "`unset, unset-2, dnt`"


def test_incomplete_lists_problems(incomplete_audit, tmp_path):
    text = render(incomplete_audit, tmp_path)
    assert "### Problems" in text
    assert "- `polite-tool/denied: sandbox could not start: tun device unavailable`" in text
    assert "`denied` (incomplete)" in text and "| unknown |" in text and "`timeout`" in text and "**no**" in text


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
    for heading in ("Findings", "Consent grid: `polite-tool`", "Endpoints"):
        rows = table_rows(text, heading)
        assert len({len(r) for r in rows}) == 1, heading
    assert len(text) < 20000  # the 20000-character value was clipped


def test_code_span_survives_backticks():
    assert md.code("a`b") == "``a`b``"
    assert md.code("`x`") == "`` `x` ``"
    assert md.code("a|b") == "`a\\|b`" and md.code("a|b", cell=False) == "`a|b`"
