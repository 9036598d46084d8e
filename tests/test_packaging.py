"""The package as users install it: every import declared, and a wheel that audits the demo.

The wheel test is what `pip install .` or `pipx install .` gives a user: no source checkout on
sys.path, no dev.sh, only the files the wheel carries. It builds the wheel, installs it with its
dependencies into a fresh virtual environment (dependencies come from the pip configuration of
this machine, as for any user), and runs `egress-audit demo` from an unrelated directory.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# Imports that need no declaration, and why.
UNDECLARED_OK = {
    "pip": "optional: policy.pip_index_hosts asks pip for its default index when pip is importable",
    "compression": "standard library from Python 3.14 (compression.zstd); backports.zstd before",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party modules imported anywhere in the package, with the files importing them."""
    found: dict[str, set[str]] = {}
    for path in (REPO / "auditor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("auditor", "__future__"):
                    found.setdefault(top if top != "backports" else name, set()).add(
                        str(path.relative_to(REPO)))
    return found


def test_every_imported_module_is_declared():
    declared = {_norm(re.match(r"[A-Za-z0-9._-]+", d).group()) for d in PYPROJECT["project"]["dependencies"]}
    dists = packages_distributions()
    missing = {}
    for module, files in imported_modules().items():
        if module.split(".")[0] in UNDECLARED_OK:
            continue
        owners = {_norm(d) for d in dists.get(module.split(".")[0], [])}
        if module == "backports.zstd":
            owners = {"backports-zstd"}
        if not owners & declared:
            missing[module] = (sorted(owners), sorted(files))
    assert not missing, f"imported but not in pyproject dependencies: {missing}"


def test_package_data_carries_the_demo_and_templates():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["auditor"]
    assert "demo/*" in data and "report/templates/*" in data
    assert (REPO / "auditor" / "demo" / "scenario.yaml").is_file()
    assert (REPO / "auditor" / "demo" / "demo_tool.py").is_file()


def _copy_source(dest: Path) -> Path:
    """The project's files without local state, so the build sees what a fresh clone has."""
    skip = shutil.ignore_patterns(".venv", ".git", "reports", "build", "dist", "*.egg-info", "__pycache__",
                                  ".pytest_cache", "node_modules")
    shutil.copytree(REPO, dest, ignore=skip)
    return dest


@pytest.mark.e2e
def test_wheel_install_runs_the_demo(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def sh(*argv, timeout=600, cwd=tmp_path):
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                           cwd=cwd, env=env)
        assert r.returncode == 0, f"{argv}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        return r

    src = _copy_source(tmp_path / "src")
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", src)
    [wheel] = (tmp_path / "dist").glob("egress_auditor-*.whl")
    listing = sh(sys.executable, "-m", "zipfile", "-l", wheel).stdout
    for member in ("auditor/demo/scenario.yaml", "auditor/demo/demo_tool.py",
                   "auditor/report/templates/report.html.j2"):
        assert member in listing, member
    assert "tests/" not in listing and "scenarios/" not in listing

    # sys.executable is >= 3.12 (the suite runs in the project's venv); a venv made from it uses
    # its base interpreter, as `python3.12 -m venv` or pipx would.
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv)
    sh(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, timeout=900)
    where = sh(venv / "bin" / "python", "-c", "import auditor; print(auditor.__file__)").stdout
    assert str(venv) in where and str(REPO) not in where

    home = tmp_path / "elsewhere"
    home.mkdir()
    r = subprocess.run([str(venv / "bin" / "egress-audit"), "demo", "--seed", "5"], capture_output=True,
                       text=True, timeout=900, cwd=home, env=env)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "Traceback" not in r.stderr
    out = home / "reports" / "demo"
    findings = json.loads((out / "findings.json").read_text())
    assert findings["complete"] is True
    seen = {(f["rule"], f["variant"]) for f in findings["findings"]}
    # The demo's defects, as tests/e2e/test_demo.py knows them: the capture really ran from the wheel.
    assert {("PRIV-001", "unset"), ("CONSENT-002", "dnt"), ("SEC-002", "untrusted-ca")} <= seen, seen
    assert (out / "report.html").stat().st_size > 1000
    assert (out / "runs" / "demo-tool" / "unset" / "flows.mitm").stat().st_size > 0
