"""diff: new/fixed findings by stable id, endpoints and data fields."""

import json
import subprocess
import sys

from auditor import diff


def doc(*findings, endpoints=()):
    return {"schema_version": 1, "findings": list(findings), "endpoints": [{"host": h} for h in endpoints]}


def f(id, rule="PRIV-001", severity="critical", host="t.example", loc="body:$.user"):
    return {"id": id, "rule": rule, "severity": severity, "scenario": "s", "variant": "unset", "host": host,
            "evidence": {"location": loc}, "baselined": False}


def test_diff_new_fixed_unchanged():
    old = doc(f("a"), f("b", loc="body:$.host"), endpoints=["t.example"])
    new = doc(f("a"), f("c", rule="SEC-001", severity="high", host="u.example", loc="url"),
              endpoints=["t.example", "u.example"])
    d = diff.diff(old, new)
    assert [x["id"] for x in d.new] == ["c"] and [x["id"] for x in d.fixed] == ["b"] and d.unchanged == 1
    assert d.endpoints_added == ("u.example",) and d.endpoints_removed == ()
    assert d.fields_added == ("u.example url",) and d.fields_removed == ("t.example body:$.host",)
    assert [x["id"] for x in d.failing("high")] == ["c"] and d.failing("critical") == ()


def test_diff_cli_exit_codes(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps(doc(f("a"))))
    (tmp_path / "new.json").write_text(json.dumps(doc(f("a"), f("z"))))
    run = lambda *a: subprocess.run([sys.executable, "-m", "auditor", "diff", *map(str, a)],
                                    capture_output=True, text=True)
    r = run(tmp_path / "old.json", tmp_path / "new.json")
    assert r.returncode == 1 and "1 new, 0 fixed, 1 unchanged" in r.stdout
    assert run(tmp_path / "new.json", tmp_path / "old.json").returncode == 0
    (tmp_path / "bad.json").write_text("{}")
    r = run(tmp_path / "bad.json", tmp_path / "old.json")
    assert r.returncode == 2 and "schema_version" in r.stderr
