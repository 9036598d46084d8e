import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "auditor"]


def run_cli(*args, timeout=600, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=kw.pop("cwd", REPO), env=env, **kw)


def pids_with_marker(scenario: str = "", audit_pid: int | None = None) -> set[int]:
    """Processes still carrying a run marker of this scenario (and audit process, if given):
    nothing of an audit may outlive it. Filtering keeps concurrent audits elsewhere out."""
    needle = f"EGRESS_AUDIT_RUN={scenario}/".encode() if scenario else b"EGRESS_AUDIT_RUN="
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as fo:
                    env = fo.read().split(b"\0")
            except OSError:
                continue
            for var in env:
                if var.startswith(needle) and (audit_pid is None or f"/{audit_pid}/".encode() in var):
                    found.add(int(entry.name))
    return found - {os.getpid()}


@pytest.fixture
def write_scenario(tmp_path):
    def write(text: str, name: str = "scenario.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p
    return write
