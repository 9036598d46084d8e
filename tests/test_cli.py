"""The command line: exit codes and messages a user can act on (no tracebacks)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from mitmproxy import io
from mitmproxy.test import tflow

from auditor import __version__, cli as cli_mod, scenario

CLI = [sys.executable, "-m", "auditor"]


def cli(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("text, where", [
    ("schema_version: 1\nname: x\nsteps:\n  - run: a\n    bogus: 1\n", ":5: steps[0].bogus: unknown key"),
    ("schema_version: 1\nname: x\nsteps:\n  - run: a\n    timeout: soon\n", ":5: steps[0].timeout: expected a number"),
    ("schema_version: 1\nname: x\n", ":1: steps: required key is missing"),
    ("schema_version: 1\nname: x\nsteps: [\n", ":4: YAML syntax error"),
])
def test_bad_scenario_exits_2_naming_file_line_key(tmp_path, text, where):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    r = cli("run", p, "--capture", "proxy")
    assert r.returncode == 2
    assert f"{p}{where}" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--fail-on", "severe"], "'--fail-on': 'severe' is not one of 'critical', 'high'"),
    (["--format", "pdf"], "--format pdf"),
    (["--variants", "sometimes"], "--variants sometimes"),
    (["--capture", "magic"], "'--capture': 'magic' is not one of 'auto', 'tun', 'proxy'"),
    (["--shard", "3/2"], "--shard 3/2"),
    (["--jobs", "0"], "--jobs 0"),
    (["--jobs", "many"], "--jobs many"),
])
def test_bad_options_exit_2(tmp_path, args, message):
    p = tmp_path / "ok.yaml"
    p.write_text("schema_version: 1\nname: ok\nsteps: [{run: 'true'}]\n")
    r = cli("run", p, *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_missing_input_exits_2(tmp_path):
    r = cli("analyze", tmp_path / "nope.mitm")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_init_scaffolds_a_valid_scenario(tmp_path):
    r = cli("init", "my-tool", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sc = scenario.load(tmp_path / "my-tool.yaml")
    assert sc.name == "my-tool" and sc.denied is not None
    assert cli("init", "my-tool", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize("tool, denied_env, denied_run", [
    ("nextjs", (("NEXT_TELEMETRY_DISABLED", "1"),), ()),
    ("Next.js", (("NEXT_TELEMETRY_DISABLED", "1"),), ()),        # by name, any case and punctuation
    ("dvc", (), ("dvc config core.analytics false --global",)),  # a command where no variable is documented
])
def test_init_tool_fills_the_documented_consent(tmp_path, tool, denied_env, denied_run):
    r = cli("init", "app", "--tool", tool, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sc = scenario.load(tmp_path / "app.yaml")
    assert (sc.denied.env, sc.denied.run) == (denied_env, denied_run)
    assert sc.granted is not None and "toptout" in (tmp_path / "app.yaml").read_text()


def test_init_tool_unknown_suggests(tmp_path):
    r = cli("init", "app", "--tool", "next", cwd=tmp_path)
    assert r.returncode == 0  # "next" is Next.js' executable
    r = cli("init", "app2", "--tool", "gatsbyy", cwd=tmp_path)
    assert r.returncode == 2 and "not in the consent catalog" in r.stderr and not (tmp_path / "app2.yaml").exists()


def _flow_file(path, body: bytes, host="t.example", scheme="https"):
    f = tflow.tflow(resp=True)
    f.request.host = f.request.headers["host"] = host
    f.request.scheme = scheme
    f.request.port = 443 if scheme == "https" else 80
    f.request.method = "POST"
    f.request.path = "/v1/events"
    f.request.content = body
    with open(path, "wb") as fo:
        io.FlowWriter(fo).add(f)


def test_analyze_mitm_file_with_identity(tmp_path):
    flows = tmp_path / "capture.mitm"
    _flow_file(flows, json.dumps({"event": "run", "user": "zelda-qx81"}).encode())
    ident = tmp_path / "me.yaml"
    ident.write_text(yaml.safe_dump({"username": "zelda-qx81"}))
    out = tmp_path / "out"
    r = cli("analyze", flows, "--identity", ident, "--out", out, "--fail-on", "critical")
    assert r.returncode == 1, r.stderr
    findings = json.loads((out / "findings.json").read_text())["findings"]
    hit = next(f for f in findings if f["rule"] == "PRIV-001")
    assert hit["evidence"]["location"] == "body:$.user" and hit["evidence"]["match"] == "username"
    assert "zelda-qx81" not in (out / "findings.json").read_text()


def _har(tmp_path):
    har = tmp_path / "browser.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [{
        "startedDateTime": "2026-11-30T00:00:00Z", "time": 1,
        "request": {"method": "GET", "url": "https://docs.example/page", "httpVersion": "HTTP/1.1",
                    "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [],
                     "cookies": [], "content": {"size": 0, "mimeType": "text/html"}, "redirectURL": "",
                     "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}]}}))
    return har


def test_analyze_har_clean_exits_0(tmp_path):
    har = _har(tmp_path)
    r = cli("analyze", har, "--fail-on", "high")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["findings"] == [] or all(
        f["severity"] in ("info", "low", "medium") for f in json.loads(r.stdout)["findings"])


def test_analyze_rejects_garbage(tmp_path):
    junk = tmp_path / "junk.har"
    junk.write_text("{not json")
    r = cli("analyze", junk)
    assert r.returncode == 2 and "not a readable HAR" in r.stderr


def test_doctor_reports_capture_choice():
    r = cli("doctor")
    assert "capture auto" in r.stdout and "mitmdump" in r.stdout


# --- first contact: every command, every kind of mistake -------------------------------------

COMMANDS = sorted(typer.main.get_command(cli_mod.app).commands)


def invoke(capsys, *args) -> tuple[int, str, str]:
    """The real entry point (cli.main) in this process: fast enough to try every command."""
    with pytest.raises(SystemExit) as exit_:
        cli_mod.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def one_line_error(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("egress-audit") and ": error: " in lines[0]
    for n in needles:
        assert n in lines[0], lines[0]


def test_every_command_is_covered():
    assert COMMANDS == sorted(["run", "demo", "analyze", "report", "baseline", "allowlist", "diff", "merge",
                               "init", "doctor"])


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_choices_defaults_and_an_example(capsys, command):
    code, out, err = invoke(capsys, command, "--help")
    assert code == 0 and err == ""
    assert out.startswith(f"Usage: egress-audit {command} [OPTIONS]")
    assert "Example:\n  " in out and f"egress-audit {command}" in out.split("Example:")[1]
    assert not re.search(r"<(bool|str|int|path|list\[\w+\]|int range)>", out), out
    assert "SPEC" not in out and "§" not in out  # no documents users do not have
    assert invoke(capsys, command, "-h")[1] == out
    for option in re.findall(r"^  (--[a-z-]+) ([^ ]+)", out, re.M):
        assert option[1].isupper() or "|" in option[1] or option[1] in ("I/N",), option


@pytest.mark.parametrize("command", COMMANDS)
def test_version_after_the_command_is_a_usage_error_with_a_hint(capsys, command):
    code, out, err = invoke(capsys, command, "--version")
    assert code == 2 and out == ""
    one_line_error(err, f"egress-audit {command}: error: No such option: --version",
                   "--version goes before the command")


@pytest.mark.parametrize("command", COMMANDS)
def test_typo_in_an_option_exits_2_in_one_line(capsys, command):
    code, out, err = invoke(capsys, command, "--fial-on", "x")
    assert code == 2
    one_line_error(err, "No such option: --fial-on", f"see egress-audit {command} --help")


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("demo", "doctor")])
def test_no_arguments_names_what_is_missing(capsys, command):
    code, out, err = invoke(capsys, command)
    assert code == 2
    one_line_error(err, "Missing ")


def test_commands_without_required_arguments_run_without_traceback(capsys):
    # `demo` with no arguments is the demo itself (tests/e2e/test_demo.py runs it); doctor is quick.
    code, out, err = invoke(capsys, "doctor")
    assert code in (0, 3) and "Traceback" not in out + err and "capture auto" in out


def test_version_and_help_of_the_program(capsys):
    assert invoke(capsys, "--version") == (0, f"egress-audit {__version__}\n", "")
    code, out, err = invoke(capsys, "-h")
    assert code == 0 and out.startswith("Usage: egress-audit [OPTIONS] COMMAND")
    for command in COMMANDS:
        assert f"\n  {command} " in out
    assert "--install-completion" in out and "-q, --quiet" in out and "-v, --verbose" in out
    code, out, err = invoke(capsys)  # bare: the help, as a usage error
    assert code == 2 and "Usage: egress-audit" in err and "Traceback" not in err


@pytest.mark.parametrize("args, needles", [
    (["--bogus"], ["No such option: --bogus"]),
    (["rnu"], ["No such command 'rnu'", "Did you mean 'run'"]),
    (["run", "/nonexistent.yaml"], ["/nonexistent.yaml: cannot read scenario"]),
    (["run", "x.yaml", "-q"], ["No such option: -q", "-q goes before the command"]),
    (["-q", "-v", "doctor"], ["-q and -v: choose one"]),
    (["init", "Bad Name"], ["Bad Name: use only a-z"]),
])
def test_usage_mistakes(capsys, args, needles):
    code, out, err = invoke(capsys, *args)
    assert code == 2
    one_line_error(err, *needles)


def test_hostile_arguments_are_escaped_in_errors(capsys):
    code, _, err = invoke(capsys, "run", "--\x1b[31mred[/]x")
    assert code == 2 and "\x1b" not in err and "\\x1b[31mred[/]x" in err


ENTRY = Path(sys.executable).with_name("egress-audit")


@pytest.mark.skipif(not ENTRY.exists(), reason="the console script is installed by `pip install -e .`")
@pytest.mark.parametrize("args, code", [
    (["--version"], 0), (["-h"], 0), (["--bogus"], 2), (["run", "/nonexistent.yaml"], 2), (["rnu"], 2),
])
def test_installed_entry_point(args, code):
    """The console script a user types, in a fresh process, as the project's before-stop hook does."""
    r = subprocess.run([str(ENTRY), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    if code == 2:
        assert len(r.stderr.strip().splitlines()) == 1


def test_quiet_prints_only_the_verdict(tmp_path):
    har = _har(tmp_path)
    r = cli("-q", "analyze", har, "--out", tmp_path / "out", "--fail-on", "high")
    assert r.returncode == 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("PASS: nothing at or above high")
    r = cli("analyze", har, "--out", tmp_path / "out2")
    assert "wrote" in r.stderr


def test_init_out(tmp_path):
    r = cli("init", "my-tool", "--out", tmp_path / "sub" / "x.yaml")
    assert r.returncode == 0 and scenario.load(tmp_path / "sub" / "x.yaml").name == "my-tool"
    (tmp_path / "file").write_text("")
    r = cli("init", "my-tool", "--out", tmp_path / "file" / "x.yaml")  # a file where a folder should be
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_shell_completion_offers_commands_and_choices():
    env = {**__import__("os").environ, "_EGRESS_AUDIT_COMPLETE": "complete_bash"}

    def complete(words: str, cword: int) -> list[str]:
        r = subprocess.run(CLI, capture_output=True, text=True, timeout=120,
                           env={**env, "COMP_WORDS": words, "COMP_CWORD": str(cword)})
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("egress-audit ru", 1) == ["run"]
    assert complete("egress-audit run a.yaml --capture ", 4) == ["auto", "tun", "proxy"]
    assert "critical" in complete("egress-audit report d --fail-on ", 4)
