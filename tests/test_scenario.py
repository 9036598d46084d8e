"""Scenario loading: strict schema v1, every error names file, line and key."""

import re

import pytest

from auditor import scenario
from auditor.errors import ScenarioError

GOOD = """\
schema_version: 1
name: polite-tool
description: Install and first run
software: {name: polite-tool, version: "2.4.0", homepage: https://polite-tool.example}
files:
  config/app.toml: |
    debug = false
steps:
  - name: install
    run: echo install
    timeout: 300
  - name: first-use
    run: polite-tool init
    tty: false
    answers:
      - {expect: "(?i)share anonymous usage", send: "n"}
    expect_exit: any
consent:
  denied: {env: {POLITE_TELEMETRY: "0"}}
  granted: {run: ["polite-tool telemetry enable"]}
variants: [unset, denied, dnt, granted, ci, tty, untrusted-ca]
network:
  allow: ["@pip-index", internal-mirror.example.com, "*.cdn.example"]
expect:
  telemetry: [telemetry.polite-tool.example, "api.polite.example/v1/*"]
  functional: [updates.polite.example, "api.polite.example/v2/latest"]
  notice: "(?i)anonymous usage statistics"
repeat: 2
twins: never
"""


def write(tmp_path, text, name="s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_full_schema_loads(tmp_path):
    sc = scenario.load(write(tmp_path, GOOD))
    assert sc.name == "polite-tool"
    assert [s.name for s in sc.steps] == ["install", "first-use"]
    assert sc.steps[0].timeout == 300 and sc.steps[1].expect_exit is None
    assert sc.steps[1].answers[0].send == "n"
    assert sc.denied.env == (("POLITE_TELEMETRY", "0"),)
    assert sc.granted.run == ("polite-tool telemetry enable",)
    assert sc.allow == ("@pip-index", "internal-mirror.example.com", "*.cdn.example")
    assert sc.files == (("config/app.toml", "debug = false\n"),)
    assert sc.notice.search("Anonymous usage statistics are collected")
    assert sc.repeat == 2 and sc.dir == tmp_path.resolve()
    assert sc.expect_functional == ("updates.polite.example", "api.polite.example/v2/latest")
    assert sc.twins == "never"


def test_defaults(tmp_path):
    sc = scenario.load(write(tmp_path, "schema_version: 1\nname: x\nsteps: [{run: 'true'}]\n"))
    step = sc.steps[0]
    assert (step.name, step.timeout, step.tty, step.expect_exit) == ("step-1", 120.0, False, 0)
    assert (sc.expect_functional, sc.twins) == ((), "auto")
    # No consent declared: denied/granted are not applicable.
    assert "denied" not in sc.applicable_variants() and "unset" in sc.applicable_variants()


@pytest.mark.parametrize("text, line, key, message", [
    ("schema_version: 1\nname: x\nsteps:\n  - run: a\n    bogus: 1\n", 5, "steps[0].bogus", "unknown key"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\ncolour: red\n", 4, "colour", "unknown key"),
    ("schema_version: 1\nname: x\nsteps:\n  - run: a\n    timeout: '300'\n", 5, "steps[0].timeout", "expected a number"),
    ("schema_version: 1\nname: x\nsteps:\n  - run: a\n    timeout: -1\n", 5, "steps[0].timeout", "greater than 0"),
    ("schema_version: 1\nname: x\nsteps: {run: a}\n", 3, "steps", "expected a list"),
    ("schema_version: 1\nname: x\n", 1, "steps", "required key is missing"),
    ("schema_version: 1\nname: x\nsteps: []\n", 3, "steps", "at least one step"),
    ("schema_version: 1\nname: x\nsteps:\n  - name: a\n", 4, "steps[0].run", "required key is missing"),
    ("schema_version: 2\nname: x\nsteps: [{run: a}]\n", 1, "schema_version", "unsupported version"),
    ("schema_version: 1\nname: Bad Name\nsteps: [{run: a}]\n", 2, "name", "a-z"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nvariants: [unset, sometimes]\n", 4, "variants[1]", "unknown variant"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nvariants: [denied]\n", 4, "variants[0]", "needs consent.denied"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nnetwork: {allow: ['@cargo']}\n", 4, "network.allow[0]", "unknown source"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nnetwork: {allow: [a b]}\n", 4, "network.allow[0]", "not a host"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nconsent: {denied: {env: {X: 0}}}\n", 4, "consent.denied.env.X", "quote it"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nexpect: {notice: '(unclosed'}\n", 4, "expect.notice", "invalid regular expression"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nfiles: {../escape: x}\n", 4, "files.../escape", "relative path"),
    ("schema_version: 1\nname: x\nsteps:\n  - run: a\n    tty: yes please\n", 5, "steps[0].tty", "true or false"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nrepeat: 0\n", 4, "repeat", "between 1 and 10"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nexpect: {functional: ['@pip-index']}\n", 4,
     "expect.functional[0]", "belongs in network.allow"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\nexpect: {functional: [a b]}\n", 4, "expect.functional[0]",
     "not a host"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\ntwins: false\n", 4, "twins", "expected a string"),
    ("schema_version: 1\nname: x\nsteps: [{run: a}]\ntwins: sometimes\n", 4, "twins", "auto, always, never"),
])
def test_errors_name_file_line_and_key(tmp_path, text, line, key, message):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as e:
        scenario.load(path)
    err = e.value
    assert (err.line, err.key) == (line, key), str(err)
    assert message in str(err)
    assert str(err).startswith(f"{path}:{line}: {key}: ")


def test_yaml_syntax_error(tmp_path):
    path = write(tmp_path, "schema_version: 1\nname: x\nsteps: [\n  {run: a\n")
    with pytest.raises(ScenarioError) as e:
        scenario.load(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: YAML syntax error", str(e.value))


@pytest.mark.parametrize("text, message", [("", "empty"), ("- a\n- b\n", "expected a mapping")])
def test_not_a_mapping(tmp_path, text, message):
    with pytest.raises(ScenarioError, match=message):
        scenario.load(write(tmp_path, text))


def test_unreadable_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        scenario.load(tmp_path / "missing.yaml")


def test_bundled_scenarios_are_valid():
    from pathlib import Path

    files = sorted((Path(__file__).parents[1] / "scenarios").rglob("*.yaml"))
    assert files
    for f in files:
        scenario.load(f)


# ---- hostile scenario files (issue 8): one line naming file, line and key, never a traceback ----

@pytest.mark.parametrize("name", [".", "..", "a" * 101, "a/b"])
def test_name_that_is_not_a_plain_directory_name(tmp_path, name):
    path = write(tmp_path, f'schema_version: 1\nname: "{name}"\nsteps: [{{run: a}}]\n')
    with pytest.raises(ScenarioError) as e:
        scenario.load(path)
    assert str(e.value).startswith(f"{path}:2: name: ")


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf"])
def test_timeout_must_be_finite(tmp_path, value):
    path = write(tmp_path, f"schema_version: 1\nname: x\nsteps:\n  - run: a\n    timeout: {value}\n")
    with pytest.raises(ScenarioError) as e:
        scenario.load(path)
    assert str(e.value).startswith(f"{path}:5: steps[0].timeout: ")


@pytest.mark.parametrize("depth", [40, 5000, 200_000])
def test_deep_nesting_is_one_line_with_its_line_number(tmp_path, depth):
    path = write(tmp_path, "schema_version: 1\nname: x\nsteps: [{run: a}]\nfiles:\n  a: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ScenarioError) as e:
        scenario.load(path)
    assert str(e.value).startswith(f"{path}:5: nested deeper than 32 levels")
