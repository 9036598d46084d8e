"""The CI recipes shipped in the repository (action.yml, docs/ci/*) are linted and exercised.

Linters run offline from the test dependencies: check-jsonschema's vendored SchemaStore schemas
for GitHub actions/workflows and GitLab CI, actionlint (with shellcheck for `run:` scripts) and
kubernetes-validate's bundled Kubernetes schemas. A test skips only when its tool is not installed
for this platform at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ACTION = REPO / "action.yml"
CI = REPO / "docs" / "ci"
WORKFLOWS = [CI / "github-simple.yml", CI / "github-workflow.yml"]
GITLAB = CI / "gitlab-ci.yml"
KUBERNETES = CI / "kubernetes-job.yaml"
DOCS = REPO / "docs" / "ci.md"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed for this platform")
    return str(found)


def run(*cmd, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, env=env, **kw)


def check_jsonschema(schema: str, path: Path) -> None:
    r = run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, path)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- schemas ------------------------------------------------------------------------------------

def test_action_metadata_matches_githubs_schema():
    check_jsonschema("vendor.github-actions", ACTION)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_match_githubs_schema(workflow):
    check_jsonschema("vendor.github-workflows", workflow)


def test_gitlab_template_matches_gitlabs_schema():
    check_jsonschema("vendor.gitlab-ci", GITLAB)


def test_schema_check_can_fail(tmp_path):
    bad = tmp_path / "action.yml"
    bad.write_text("name: x\nruns: {using: composite, steps: [{run: echo}]}\n")  # no shell, no description
    r = run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions", bad)
    assert r.returncode != 0


# ---- actionlint -----------------------------------------------------------------------------------

def actionlint_project(tmp_path: Path, workflows: dict[str, str]) -> Path:
    """A repository as a user's would look: workflows, and egress-auditor at .github/egress-auditor
    (here the checkout under test), so actionlint checks `with:` against the real action.yml."""
    (tmp_path / ".git").mkdir()
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (tmp_path / ".github" / "egress-auditor").symlink_to(REPO)
    for name, text in workflows.items():
        (wf / name).write_text(text)
    return tmp_path


def actionlint(project: Path) -> subprocess.CompletedProcess:
    tool("shellcheck")  # actionlint checks run: scripts with shellcheck when it is on PATH
    return run(tool("actionlint"), "-oneline", "-shellcheck", BIN / "shellcheck", cwd=project)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_pass_actionlint(tmp_path, workflow):
    r = actionlint(actionlint_project(tmp_path, {workflow.name: workflow.read_text()}))
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def action_as_workflow() -> str:
    """The composite action's steps as a workflow job, so actionlint (and shellcheck) check them
    too: actionlint reads action.yml only for a caller's inputs."""
    action = yaml.safe_load(ACTION.read_text())
    inputs = {k: {"type": "string", "default": v.get("default", "")} for k, v in action["inputs"].items()}
    doc = {"name": "action", "on": {"workflow_dispatch": {"inputs": inputs}},
           "permissions": {"contents": "read", "security-events": "write"},
           "jobs": {"action": {"runs-on": "ubuntu-24.04", "steps": action["runs"]["steps"]}}}
    return yaml.safe_dump(doc, sort_keys=False)


def test_composite_action_steps_pass_actionlint(tmp_path):
    r = actionlint(actionlint_project(tmp_path, {"action.yml": action_as_workflow()}))
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def test_actionlint_can_fail(tmp_path):
    text = WORKFLOWS[0].read_text().replace("fail-on: high", "fail-on: high\n          no-such-input: x")
    r = actionlint(actionlint_project(tmp_path, {"w.yml": text}))
    assert r.returncode != 0 and "no-such-input" in r.stdout


# ---- what the recipes promise -------------------------------------------------------------------

@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_keep_contents_read(workflow):
    doc = yaml.safe_load(workflow.read_text())
    assert doc["permissions"] == {"contents": "read"}
    for name, job in doc["jobs"].items():
        perms = job.get("permissions")
        if perms is not None:  # a job's own permissions replace the workflow's entirely
            assert perms.get("contents") == "read", name
            uploads = any(s.get("with", {}).get("upload-sarif") != "false" for s in job["steps"]
                          if s.get("uses", "").endswith("egress-auditor"))
            assert not uploads or perms.get("security-events") == "write", name


def test_sharded_workflow_merges_every_shard():
    doc = yaml.safe_load((CI / "github-workflow.yml").read_text())
    shards = doc["jobs"]["audit"]["strategy"]["matrix"]["shard"]
    audit_step = next(s for s in doc["jobs"]["audit"]["steps"] if "egress-auditor" in s.get("uses", ""))
    assert audit_step["with"]["args"] == f"--shard ${{{{ matrix.shard }}}}/{len(shards)}"
    merge = next(s for s in doc["jobs"]["merge"]["steps"] if "egress-auditor" in s.get("uses", ""))
    assert merge["with"]["merge"] == "shards/*" and doc["jobs"]["merge"]["needs"] == "audit"


def test_kubernetes_manifest_is_valid(tmp_path):
    r = run(sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0", KUBERNETES)
    assert r.returncode == 0, r.stdout + r.stderr
    docs = list(yaml.safe_load_all(KUBERNETES.read_text()))
    job = next(d for d in docs if d["kind"] == "Job" and d["spec"].get("completionMode") == "Indexed")
    n = job["spec"]["completions"]
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert f'--shard "$((JOB_COMPLETION_INDEX + 1))/{n}"' in script
    merge = next(d for d in docs if d["metadata"]["name"] == "egress-audit-merge")
    merge_script = merge["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert all(f"/results/shard-{i}" in merge_script for i in range(n)) and f"-ge {n}" in merge_script
    bad = tmp_path / "bad.yaml"
    bad.write_text(KUBERNETES.read_text().replace("completionMode: Indexed", "completionMode: Indexed\n  bogus: 1"))
    assert run(sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.30.0", bad).returncode != 0


@pytest.mark.parametrize("path", [*WORKFLOWS, GITLAB, KUBERNETES], ids=lambda p: p.name)
def test_docs_show_the_linted_file_itself(path):
    """docs/ci.md shows each recipe whole: the text a reader copies is the text tested here."""
    blocks = re.findall(r"```ya?ml\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert path.read_text() in blocks, f"docs/ci.md does not show {path.relative_to(REPO)} verbatim"


# ---- the action's shell steps, run the way GitHub runs them --------------------------------------

def step(name: str) -> dict:
    return next(s for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"] if s.get("name") == name)


def run_step(name: str, tmp_path: Path, **env) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / f"github-output-{name.split()[0]}"
    out.write_text("")
    defaults = {k: v.get("default", "") for k, v in yaml.safe_load(ACTION.read_text())["inputs"].items()}
    envs = {}
    for key, expr in step(name).get("env", {}).items():  # ${{ inputs.x }} as GitHub would fill it
        m = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", expr)
        envs[key] = env.get(m.group(1), defaults[m.group(1)]) if m else env.get(key, "")
    # GitHub runs a composite step's script with `bash --noprofile --norc -eo pipefail {0}`.
    r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step(name)["run"]],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path,
                       env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
                            "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), **envs})
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    return r, outputs


SCENARIO = """\
schema_version: 1
name: act
steps:
  - run: curl -s -d "user=$USER" https://telemetry.act.example/v1/events; echo
variants: [unset]
"""


@pytest.mark.e2e
def test_the_action_audits_merges_and_exits_with_the_audits_code(tmp_path):
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    r, out = run_step("Audit", tmp_path, scenarios="scenario.yaml", capture="proxy",
                      args="--seed 3 --format json,sarif,md")
    assert r.returncode == 0, r.stderr
    # PRIV-001 (critical): the user name went to the telemetry host.
    assert out == {"exit-code": "1", "out": "egress-audit", "sarif": "egress-audit/results.sarif",
                   "exclude": "!egress-audit/runs"}, r.stderr
    r, merged = run_step("Audit", tmp_path, merge="egress-*", out="merged", **{"include-captures": "true"})
    assert merged["exit-code"] == "1" and merged["exclude"] == "" and (tmp_path / "merged/findings.json").is_file()
    r, _ = run_step("Job summary", tmp_path, EGRESS_AUDIT_OUT="merged")
    assert r.returncode == 0 and "egress-audit" in (tmp_path / "summary").read_text()
    assert run_step("Exit with the audit's code", tmp_path, EGRESS_AUDIT_CODE="1")[0].returncode == 1
    assert run_step("Exit with the audit's code", tmp_path, EGRESS_AUDIT_CODE="0")[0].returncode == 0
    assert run_step("Exit with the audit's code", tmp_path)[0].returncode == 2  # the audit never ran


def test_the_action_refuses_to_run_without_scenarios(tmp_path):
    r, out = run_step("Audit", tmp_path)
    assert r.returncode == 0 and out["exit-code"] == "2" and "set the scenarios input" in r.stdout
