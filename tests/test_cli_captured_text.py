"""Captured text reaching the terminal through the CLI (issue 8): escaped, never markup."""

import subprocess
import sys

from .captures import dns_flow, http_flow, run_dir

CLI = [sys.executable, "-m", "auditor"]
ESC_HOST = "evil\x1b[2J\x1b[31m.example"
NL_HOST = "x\nallowed.example"


def cli(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120)


def forwarded(f):
    f.metadata["egress.action"] = "forward"  # as the recorder tags a flow it let through
    return f


def hostile_audit(tmp_path, problems=()):
    root = tmp_path / "audit"
    run_dir(root, [dns_flow(ESC_HOST), dns_flow(NL_HOST), forwarded(http_flow(host=ESC_HOST, scheme="http")),
                   forwarded(http_flow(host=NL_HOST)), http_flow(host="a[b.example"),
                   forwarded(http_flow(host="ok.example"))],
            run="denied", problems=problems, allow=["*.example"])
    return root


def test_findings_list_escapes_hosts(tmp_path):
    r = cli("report", hostile_audit(tmp_path), "--fail-on", "info")
    assert r.returncode == 1, r.stderr
    assert "\x1b" not in r.stderr and "evil\\x1b[2J\\x1b[31m.example" in r.stderr


def test_problem_with_markup_is_shown_literally_and_exits_3(tmp_path):
    r = cli("report", hostile_audit(tmp_path, problems=["step [/x] broke [bold]"]))
    assert r.returncode == 3, r.stderr
    assert "step [/x] broke [bold]" in r.stderr and "Traceback" not in r.stderr


def test_allowlist_skips_names_that_are_not_hosts(tmp_path):
    r = cli("allowlist", hostile_audit(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["ok.example:443"]
    assert "skipped x\\x0aallowed.example:443" in r.stderr and "\x1b" not in r.stdout + r.stderr
    r = cli("allowlist", hostile_audit(tmp_path), "--format", "harden-runner")
    assert r.stdout.splitlines()[-1] == "  ok.example:443" and "allowed.example" not in r.stdout
