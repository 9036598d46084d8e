import pytest

from auditor.errors import UsageError
from auditor.report import FORMATS, RENDERERS, render_all


def test_formats_are_the_documented_ones():
    assert FORMATS == ("html", "json", "sarif", "junit", "md", "har")
    assert set(RENDERERS) == set(FORMATS)


def test_render_all_writes_every_report(audit, tmp_path):
    out = tmp_path / "out"  # created on demand
    written = render_all(audit, out)
    assert sorted(p.name for p in written) == [
        "findings.json", "junit.xml", "report.html", "results.sarif", "summary.md"]
    assert all(p.parent == out and p.stat().st_size > 0 for p in written)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)  # no temp files


def test_render_all_subset(audit, tmp_path):
    assert render_all(audit, tmp_path, ["md", "json", "md"]) == [tmp_path / "findings.json", tmp_path / "summary.md"]


def test_render_all_rejects_unknown_formats(audit, tmp_path):
    with pytest.raises(UsageError, match="'pdf'.*choose from html,json,sarif,junit,md,har"):
        render_all(audit, tmp_path, ["json", "pdf"])
    assert list(tmp_path.iterdir()) == []

