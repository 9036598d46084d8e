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


def pids_with_marker() -> set[int]:
    """Processes still carrying an audit's run marker (nothing of an audit may outlive it)."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as fo:
                    if b"EGRESS_AUDIT_RUN=" in fo.read():
                        found.add(int(entry.name))
            except OSError:
                pass
    return found - {os.getpid()}


@pytest.fixture
def write_scenario(tmp_path):
    def write(text: str, name: str = "scenario.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p
    return write
