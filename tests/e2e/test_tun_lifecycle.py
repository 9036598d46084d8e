"""Twenty tun audits in a row, some killed mid-run (SIGTERM and SIGKILL of the audit process):
afterwards no namespace, TUN device, nft table, mount, sandbox file or process of the audits is left."""

import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from auditor import flowstore
from auditor.sandbox import tun

from .conftest import CLI, REPO

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(tun.unavailable() is not None,
                                 reason=f"full capture unavailable here: {tun.unavailable()}")]
# (signal, when): "start" is during sandbox start-up, "step" while the program under test runs.
PLAN = [None, (signal.SIGKILL, "step"), None, (signal.SIGTERM, "step"), (signal.SIGKILL, "start"),
        None, (signal.SIGKILL, "step"), None, (signal.SIGTERM, "start"), None,
        (signal.SIGKILL, "start"), None, (signal.SIGKILL, "step"), None, (signal.SIGTERM, "step"),
        None, (signal.SIGKILL, "step"), None, None, (signal.SIGKILL, "start")]


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fo:
            return fo.read()
    except OSError:
        return b""


def leftovers(devices: set[str], marker: bytes) -> dict:
    """What is left of the audits that created `devices` (and whose steps carry `marker`).

    Other test runs may share this machine, so only what is attributable to these audits counts:
    their TUN devices, their processes (mitmdump, keeper and tcpdump name the device on their
    command line; programs under test carry the scenario directory in their environment), mounts
    and sandbox files. Their network namespaces are anonymous: they live exactly as long as a
    process in them, which the process check covers.
    """
    names = [d.encode() for d in devices]
    procs = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        stat = _read(f"/proc/{pid}/stat")
        if not stat or stat.rsplit(b") ", 1)[1][:1] == b"Z":
            continue
        cmd = _read(f"/proc/{pid}/cmdline")
        if any(n in cmd for n in names) or marker in _read(f"/proc/{pid}/environ"):
            procs.add((int(pid), cmd[:200]))
    mounts = [line for line in _read("/proc/self/mountinfo").splitlines() if any(n in line for n in names)]
    found = {
        "processes": procs,
        "devices": devices & set(os.listdir("/sys/class/net")),
        "sandbox files": {p for d in devices for p in glob.glob(f"/tmp/egress-audit-*/tun/{d}")},
        "mounts": mounts,
    }
    return {k: v for k, v in found.items() if v}


def global_state() -> dict:
    run = lambda *argv: subprocess.run(argv, capture_output=True, text=True).stdout  # noqa: E731
    return {"ip netns": run("ip", "netns", "list"),
            "nft tables": run("nft", "list", "tables") if shutil.which("nft") else ""}


def reap_orphans() -> None:
    """Processes of a killed audit may be re-parented to this (subreaper) test process."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_clean(devices: set[str], marker: bytes, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        reap_orphans()
        left = leftovers(devices, marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def wait_for(path, text: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


SCENARIO = """\
schema_version: 1
name: leak
steps:
  - name: work
    run: |
      echo started
      python3 -c "import socket; socket.create_connection(('t.leak.example', 443), timeout=5).close()"
      (setsid sleep 120 >/dev/null 2>&1 &)
      sleep SECONDS
    timeout: 200
"""


def test_twenty_audits_some_killed_leave_nothing_behind(write_scenario, tmp_path):
    quick = write_scenario(SCENARIO.replace("SECONDS", "0"), "quick.yaml")
    slow = write_scenario(SCENARIO.replace("SECONDS", "60"), "slow.yaml")
    before = global_state()
    marker = str(tmp_path).encode()
    devices: set[str] = set()
    outcomes = []
    for i, kill in enumerate(PLAN):
        out = tmp_path / f"out{i}"
        run_dir = out / "runs" / "leak" / "unset"
        proc = subprocess.Popen([*CLI, "run", str(slow if kill else quick), "--capture", "tun", "--variants",
                                 "unset", "--out", str(out), "--format", "json", "--fail-on", "never"],
                                cwd=REPO, env={**os.environ, "EGRESS_AUDIT_LINGER": "0.3"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kill is None:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        else:
            sig, when = kill
            if when == "start":  # mitmdump starting, the device being moved, tcpdump starting
                wait_for(run_dir / "mitmdump.log", "", proc)
                time.sleep((i % 3) * 0.25)
            else:
                wait_for(run_dir / "output.jsonl", "started", proc)
                time.sleep(0.3)
            proc.send_signal(sig)
            proc.communicate(timeout=120)
            expected = (130,) if sig == signal.SIGTERM else (-signal.SIGKILL,)
            assert proc.returncode in expected, (i, kill, proc.returncode)
        outcomes.append(proc.returncode)
        head = (run_dir / "sandbox.log").read_text().split()
        assert head[0] == "device" and head[2] == "files", head
        devices.add(head[1])
        left = wait_clean({head[1]}, marker)
        assert not left, f"audit {i} ({kill}) left: {left}"
        assert not Path(head[3]).parents[1].exists(), f"audit {i} ({kill}) left its state directory"
    assert len(devices) == len(PLAN)
    assert not wait_clean(devices, marker)
    assert global_state() == before
    assert outcomes.count(-signal.SIGKILL) == sum(1 for k in PLAN if k and k[0] == signal.SIGKILL)


def test_parallel_runs_get_their_own_sandboxes(write_scenario, tmp_path):
    sc = write_scenario("""\
schema_version: 1
name: parallel
steps:
  - name: beacon
    run: |
      python3 -c "
      import os, socket
      mark = os.environ.get('DO_NOT_TRACK', '-') + os.environ.get('CI', '-')
      socket.create_connection(('p.example', 7000), timeout=5).sendall(mark.encode() + b'-beacon')"
""")
    out = tmp_path / "out"
    r = subprocess.run([*CLI, "run", str(sc), "--capture", "tun", "--variants", "unset,dnt,ci", "--jobs", "3",
                        "--out", str(out), "--format", "json", "--fail-on", "never"], cwd=REPO,
                       env={**os.environ, "EGRESS_AUDIT_LINGER": "0.3"}, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    devices, payloads = set(), {}
    for variant in ("unset", "dnt", "ci"):
        run_dir = out / "runs" / "parallel" / variant
        devices.add((run_dir / "sandbox.log").read_text().split()[1])
        [ex] = [ex for ex in flowstore.read_mitm(run_dir / "flows.mitm") if ex.kind == "tcp"]
        payloads[variant] = b"".join(m.content for m in ex.messages)
    assert len(devices) == 3
    assert payloads == {"unset": b"---beacon", "dnt": b"1--beacon", "ci": b"-true-beacon"}
    assert not wait_clean(devices, str(tmp_path).encode())
