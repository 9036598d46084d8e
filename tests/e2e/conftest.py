import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from auditor import proctree

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "auditor"]


def run_cli(*args, timeout=600, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=kw.pop("cwd", REPO), env=env, **kw)


_DEMOS: dict[str, tuple] = {}


def demo_audit(tmp_path_factory, mode: str = "auto"):
    """`egress-audit demo` once per capture mode and test session: (out dir, findings.json, process).

    The demo checks (test_demo.py) and the report layout test (test_report_layout.py) read the
    same audit rather than running the demo twice."""
    if mode not in _DEMOS:
        import json

        out = tmp_path_factory.mktemp(f"demo-{mode}") / "reports" / "demo"
        r = run_cli("demo", "--out", out, "--capture", mode, "--seed", "11", timeout=900)
        assert r.returncode == 0, r.stderr
        _DEMOS[mode] = (out, json.loads((out / "findings.json").read_text()), r)
    return _DEMOS[mode]


def pids_with_marker(scenario: str = "", audit_pid: int | None = None) -> set[int]:
    """Processes still carrying a run marker of this scenario (and audit process, if given):
    nothing of an audit may outlive it. Filtering keeps concurrent audits elsewhere out."""
    found = proctree.marked(f"={scenario}/".encode() if scenario else b"")
    if audit_pid is not None:
        found &= proctree.marked(f"/{audit_pid}/".encode())
    return found


@pytest.fixture
def write_scenario(tmp_path):
    def write(text: str, name: str = "scenario.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p
    return write


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"upstream-says-hi")

    def log_message(self, *a):
        pass


@pytest.fixture
def local_server():
    servers = []

    def start():
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        srv.seen = []
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv
    yield start
    for s in servers:
        s.shutdown()
