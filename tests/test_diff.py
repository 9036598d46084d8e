"""diff: per endpoint, what changed: endpoints, data fields, findings (by stable id)."""

import json
import subprocess
import sys

import pytest

from auditor import diff
from auditor.errors import UsageError


def doc(*findings, endpoints=()):
    return {"schema_version": 2, "findings": list(findings),
            "endpoints": [{"host": h, "class": "telemetry"} for h in endpoints]}


def f(id, rule="PRIV-001", severity="critical", host="t.example", loc="body:$.user", match="username",
      form="plain", variants=("unset",), baselined=False):
    return {"id": id, "rule": rule, "severity": severity, "title": f"{rule} title", "scenario": "s",
            "variant": variants[0], "variants": list(variants), "host": host,
            "evidence": {"location": loc, "match": match, "form": form}, "baselined": baselined}


def test_per_endpoint_changes():
    old = doc(f("a"), f("b", loc="body:$.batch[0].host", match="hostname"), endpoints=["t.example"])
    new = doc(f("a"), f("c", rule="SEC-001", severity="high", host="u.example", loc="url", match="x"),
              endpoints=["t.example", "u.example"])
    d = diff.diff(old, new)
    assert [x["id"] for x in d.new] == ["c"] and [x["id"] for x in d.fixed] == ["b"] and d.unchanged == 1
    assert d.endpoints_added == ("u.example",) and d.endpoints_removed == ()
    assert [str(x) for x in d.fields_added] == ["url carries x"]
    assert [(x.host, x.location, x.carries) for x in d.fields_removed] == [
        ("t.example", "body:$.batch[*].host", "hostname")]
    by_host = {c.host: c for c in d.endpoints}
    assert by_host["u.example"].change == "new" and [x["id"] for x in by_host["u.example"].new] == ["c"]
    assert by_host["t.example"].change == "changed" and [x["id"] for x in by_host["t.example"].fixed] == ["b"]
    assert [x["id"] for x in d.failing("high")] == ["c"] and d.failing("critical") == ()


def test_the_same_audit_twice_is_no_change():
    a = doc(f("a", variants=("unset", "dnt")), f("b", loc="body:$.batch[3].x"), endpoints=["t.example"])
    b = doc(f("a", variants=("unset", "dnt")), f("b", loc="body:$.batch[0].x"), endpoints=["t.example"])
    d = diff.diff(a, b)
    assert (d.new, d.fixed, d.unchanged, d.endpoints, d.fields_added) == ((), (), 2, (), ())
    assert diff.headline(d).startswith("0 new, 0 fixed, 2 unchanged")


def test_a_changed_form_is_a_changed_field():
    d = diff.diff(doc(f("a")), doc(f("z", form="sha256")))
    assert [str(x) for x in d.fields_added] == ["body:$.user carries username as sha256"]
    assert [str(x) for x in d.fields_removed] == ["body:$.user carries username"]


def test_baselined_and_below_the_bar_do_not_fail():
    d = diff.diff(doc(), doc(f("a", baselined=True), f("b", severity="low", loc="body:$.b")))
    assert len(d.new) == 2 and d.failing("high") == () and d.failing("never") == ()
    assert [x["id"] for x in d.failing("low")] == ["b"]


def test_json_and_markdown_name_endpoint_field_and_finding():
    d = diff.diff(doc(endpoints=["t.example"]), doc(f("a", loc="body:$.mail", match="email"),
                                                    endpoints=["t.example"]))
    j = diff.to_json(d)
    assert j["summary"]["new"] == 1 and j["summary"]["fields_added"] == 1
    (ep,) = j["endpoints"]
    assert (ep["host"], ep["change"]) == ("t.example", "changed")
    assert ep["fields"]["added"] == [{"host": "t.example", "location": "body:$.mail", "carries": "email"}]
    assert ep["findings"]["new"][0]["location"] == "body:$.mail" and ep["findings"]["new"][0]["rule"] == "PRIV-001"
    md = diff.to_markdown(d)
    assert "### `endpoint t.example (telemetry)`" in md and "`body:$.mail`" in md and "critical PRIV-001" in md
    text = diff.to_text(d)
    assert "endpoint t.example (telemetry)\n  + data field body:$.mail carries email\n  + new   critical" in text


def test_hostile_host_is_shown_not_obeyed():
    d = diff.diff(doc(), doc(f("a", host="evil\u202e\x1b[31m.example")))
    assert "\u202e" not in diff.to_text(d) and "\x1b" not in diff.to_text(d)


@pytest.mark.parametrize("content, message", [
    ({"schema_version": 1, "findings": []}, "report DIR"),  # the upgrade path
    ({}, "schema_version"), ([], "schema_version"),
])
def test_old_or_foreign_files_are_refused(tmp_path, content, message):
    p = tmp_path / "findings.json"
    p.write_text(json.dumps(content))
    with pytest.raises(UsageError, match=message):
        diff.load_findings(tmp_path)


def test_diff_cli_exit_codes_and_formats(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps(doc(f("a"))))
    (tmp_path / "new.json").write_text(json.dumps(doc(f("a"), f("z", loc="body:$.z"))))
    run = lambda *a: subprocess.run([sys.executable, "-m", "auditor", "diff", *map(str, a)],
                                    capture_output=True, text=True)
    r = run(tmp_path / "old.json", tmp_path / "new.json")
    assert r.returncode == 1 and r.stdout.startswith("1 new, 0 fixed, 1 unchanged")
    assert run(tmp_path / "new.json", tmp_path / "old.json").returncode == 0
    assert run(tmp_path / "old.json", tmp_path / "new.json", "--fail-on", "never").returncode == 0
    r = run(tmp_path / "old.json", tmp_path / "new.json", "--format", "json")
    assert json.loads(r.stdout)["summary"]["new"] == 1
    r = run(tmp_path / "old.json", tmp_path / "new.json", "--format", "md", "--out", tmp_path / "d.md")
    assert r.returncode == 1 and "critical PRIV-001" in (tmp_path / "d.md").read_text()
    assert run(tmp_path / "old.json", tmp_path / "new.json", "--format", "xml").returncode == 2
    (tmp_path / "bad.json").write_text("{}")
    r = run(tmp_path / "bad.json", tmp_path / "old.json")
    assert r.returncode == 2 and "schema_version" in r.stderr
