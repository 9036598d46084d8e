"""The hostile battery: a program under test that tries to get out of the sandbox or to fool the audit.

Each escape is either impossible or detected, and the audit never ends clean while data left:
entering another process's namespaces through /proc, a late detached sender, destroying the run's
evidence, reading the audit CA's key, writing outside HOME, and a global install that would leak
into the next variant. Real audits (the CLI), real mitmproxy, real bubblewrap; the only "host
service" is a listener on this test's loopback.
"""

import base64
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from auditor import flowstore
from auditor.sandbox import isolation, tun

from .conftest import CLI, REPO

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(isolation.problem() is not None,
                                 reason=f"the sandbox cannot run here: {isolation.problem()}")]
ESCAPES = Path(__file__).with_name("escapes.py")
NPM = shutil.which("npm")


class Listener:
    """A host service on loopback: anything that reaches it came out of the sandbox."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[float, bytes]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while chunk := conn.recv(4096):
                        data += chunk
                except OSError:
                    pass
                self.got.append((time.time(), data))

    def received(self, marker: bytes) -> list[float]:
        return [t for t, data in self.got if marker in data]


def wheel(where: Path, name: str) -> str:
    """A tiny pure-Python wheel with a console script, made here: no index needed."""
    files = {f"{name}/__init__.py": f"VALUE = 'installed'\ndef main():\n    print('{name}-cli ok')\n",
             f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{name}-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
             f"{name}-1.0.dist-info/entry_points.txt": f"[console_scripts]\n{name}-cli = {name}:main\n"}
    record = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(c.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(c.encode())}" for p, c in files.items()]
    files[f"{name}-1.0.dist-info/RECORD"] = "\n".join(record + [f"{name}-1.0.dist-info/RECORD,,"]) + "\n"
    filename = f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(where / filename, "w") as z:
        for p, c in files.items():
            z.writestr(p, c)
    return filename


def npm_package(where: Path, name: str) -> str:
    """A tiny npm package tarball with a bin, made here: `npm install -g` needs no registry."""
    filename = f"{name}-1.0.0.tgz"
    with tarfile.open(where / filename, "w:gz") as tar:
        for path, text, mode in (("package/package.json", json.dumps({"name": name, "version": "1.0.0",
                                  "bin": {name: "cli.js"}}), 0o644),
                                 ("package/cli.js", f"#!/usr/bin/env node\nconsole.log('{name} ok')\n", 0o755)):
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(text.encode()), mode
            tar.addfile(info, io.BytesIO(text.encode()))
    return filename


def step(name: str, run: str, timeout: int = 120) -> str:
    return f"  - name: {name}\n    run: {json.dumps(run)}\n    timeout: {timeout}\n    expect_exit: any\n"


def audit(tmp: Path, mode: str, variants: list[str], steps: list[str], port: int) -> dict:
    sc = tmp / "hostile.yaml"
    sc.write_text(f"schema_version: 1\nname: hostile\nvariants: [{', '.join(variants)}]\nsteps:\n" + "".join(steps))
    out = tmp / "out"
    r = subprocess.run([*CLI, "run", str(sc), "--capture", mode, "--out", str(out), "--format", "json,md",
                        "--fail-on", "never", "--jobs", "1"], cwd=REPO, capture_output=True, text=True,
                       timeout=1200, env={**os.environ, "EGRESS_AUDIT_LINGER": "1"})
    ended = time.time()
    findings = json.loads((out / "findings.json").read_text()) if (out / "findings.json").exists() else {}
    runs = {}
    for v in variants:
        d = out / "runs" / "hostile" / v
        output = [json.loads(line) for line in (d / "output.jsonl").read_text().splitlines()]
        runs[v] = {"dir": d, "manifest": json.loads((d / "run.json").read_text()), "output": output,
                   "exchanges": list(flowstore.read_mitm(d / "flows.mitm")) if (d / "flows.mitm").exists() else []}
    return {"r": r, "ended": ended, "findings": findings, "runs": runs, "out": out}


def said(run: dict, step_name: str) -> list[str]:
    return [o["text"] for o in run["output"] if o["step"] == step_name and o["stream"] in ("stdout", "stderr")]


def report(run: dict, step_name: str) -> dict:
    lines = [t for t in said(run, step_name) if t.startswith("{")]
    assert lines, said(run, step_name)
    return json.loads(lines[-1])


def sent(run: dict, marker: bytes) -> bool:
    def body(ex):
        return ex.request_body + b"".join(m.content for m in ex.messages if m.from_client)
    return any(marker in body(ex) for ex in run["exchanges"])


def wait_past(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def alive_with(token: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in open(f"/proc/{pid}/cmdline", "rb").read():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def listener():
    srv = Listener()
    yield srv
    srv.sock.close()


@pytest.fixture(scope="module")
def full(tmp_path_factory, listener):
    """One tun audit, two variants, every escape in each."""
    if tun.unavailable():
        pytest.skip(f"full capture unavailable: {tun.unavailable()}")
    tmp = tmp_path_factory.mktemp("hostile-tun")
    token = "eat" + secrets.token_hex(4)
    shutil.copy(ESCAPES, tmp / "escapes.py")
    pkg = f"egressprobe{token}"
    whl = wheel(tmp, pkg)
    npm_name = f"egress-probe-{token}"
    tgz = npm_package(tmp, npm_name)
    py = f'"{sys.executable}" "$SCENARIO_DIR/escapes.py"'
    out = tmp / "out"
    leftovers = (f'python3 -c "import {pkg}" 2>/dev/null && echo "LEFTOVER pip" || echo "no pip leftover"\n'
                 f'[ -e "$(npm root -g 2>/dev/null)/{npm_name}" ] && echo "LEFTOVER npm" || echo "no npm leftover"\n'
                 f'[ -e /usr/local/{token} ] && echo "LEFTOVER write" || echo "no write leftover"\n')
    install = (f'python3 -m pip install --no-index --no-deps --disable-pip-version-check -q "$SCENARIO_DIR/{whl}"\n'
               f'python3 -c "import {pkg}; print(\'pip-ok\', {pkg}.__file__)"\n'
               f'python3 -m pip install --user --force-reinstall --no-index --no-deps --disable-pip-version-check -q '
               f'"$SCENARIO_DIR/{whl}" && ls "$HOME/.local/lib/"python3*/site-packages/{pkg} >/dev/null && echo pip-user-ok\n')
    if NPM:
        install += (f'npm install -g --offline --no-audit --no-fund "$SCENARIO_DIR/{tgz}" >/dev/null 2>&1; '
                    f'{npm_name} && echo npm-ok\n')
    steps = [step("leftovers", leftovers), step("install", install, 300),
             step("setns", f"{py} setns {listener.port}"),
             step("ca-key", f'{py} ca_key "{out}"'),
             step("write", f'{py} write "{REPO}" "$SCENARIO_DIR" {token}'),
             step("truncate", f'{py} truncate "{out}"'),
             step("late", f"{py} late {listener.port} {token}")]
    result = audit(tmp, "tun", ["unset", "dnt"], steps, listener.port)
    wait_past(result["ended"] + 12)  # the late sender's ten seconds are over
    result.update(token=token, pkg=pkg, npm=npm_name, tmp=tmp)
    yield result
    for name in (f"/etc/{token}", f"/usr/local/{token}", f"/root/{token}", f"{REPO}/{token}", f"/tmp/{token}",
                 f"/var/tmp/{token}"):
        if os.path.exists(name):  # only if a test failed: never leave it behind
            os.unlink(name)


def test_the_audit_completes_contained_with_every_packet_accounted_for(full):
    assert full["r"].returncode == 0, full["r"].stderr[-3000:]
    assert full["findings"]["complete"], full["findings"].get("problems")
    for v in full["findings"]["scenarios"][0]["variants"]:
        assert v["isolation"] == "contained" and v["complete"] and not v["problems"], v
    assert "uncontained" not in full["r"].stderr


@pytest.mark.parametrize("variant", ["unset", "dnt"])
def test_setns_through_proc_is_impossible(full, listener, variant):
    r = report(full["runs"][variant], "setns")
    assert r["seen"] == []  # mitmdump, tcpdump, the keeper and the audit are not even visible
    assert r["entered"] == [] and r["tried_pid1"] == 1
    assert not [n for n in r["host_tmp"] if n.startswith("egress-audit-")]  # /proc/1/root is the sandbox's
    assert r["reached"].startswith("error")  # the host's loopback is not the sandbox's
    assert not listener.received(b"SETNS-CANARY")


@pytest.mark.parametrize("variant", ["unset", "dnt"])
def test_a_late_detached_sender_ends_with_the_run(full, listener, variant):
    run = full["runs"][variant]
    assert said(run, "late") == ["detached a late sender"]
    assert any("killed after the linger" in n for n in run["manifest"]["notes"])
    assert not alive_with(full["token"])  # nothing of the run is left on the machine
    assert not listener.received(b"LATE-CANARY")  # and nothing reached the host after the audit
    # Data that left is either in the capture or the run is incomplete: here, nothing left at all.
    assert not sent(run, b"LATE-CANARY") or not run["manifest"]["complete"]


@pytest.mark.parametrize("variant", ["unset", "dnt"])
def test_the_evidence_cannot_be_destroyed(full, variant):
    run = full["runs"][variant]
    r = report(run, "truncate")
    assert r["sent"] == "{}" and r["truncated"] == []
    assert sent(run, b"EVIDENCE-CANARY")  # still in flows.mitm
    events = [json.loads(line)["event"] for line in (run["dir"] / "events.jsonl").read_text().splitlines()]
    assert events[0] == "ready" and events[-1] == "done"
    assert (run["dir"] / "capture.pcap").stat().st_size > 0


@pytest.mark.parametrize("variant", ["unset", "dnt"])
def test_the_ca_key_is_out_of_reach(full, variant):
    run = full["runs"][variant]
    r = report(run, "ca-key")
    assert r["looked"] > 0
    assert not [k for k in r["keys"] if "mitmproxy" in k or "egress-audit" in k]
    assert not any(ex.host == "exfil.example" and b"mitmproxy" in ex.request_body for ex in run["exchanges"])


@pytest.mark.parametrize("variant", ["unset", "dnt"])
def test_writes_outside_home_fail_or_stay_in_the_run(full, variant):
    token = full["token"]
    r = report(full["runs"][variant], "write")
    assert r[f"/etc/{token}"] == "Permission denied"
    # The checkout: read-only, or (a clone in /tmp) inside the run's private /tmp — checked below.
    private_repo = any(str(REPO).startswith(p + "/") for p in ("/tmp", "/var/tmp", "/home"))
    assert r[f"{REPO}/{token}"] in ("Permission denied", "Read-only file system") + (("ok",) if private_repo else ())
    assert r[f"{full['tmp']}/{token}"] in ("Permission denied", "Read-only file system")  # the scenario
    for private in (f"/usr/local/{token}", f"/root/{token}", f"/tmp/{token}", f"/var/tmp/{token}"):
        assert r[private] == "ok"  # the run's own writable layer or tmpfs ...
    for path in r:
        assert not os.path.exists(path), path  # ... and nothing of it on the host


def test_global_installs_work_inside_and_leak_into_nothing(full):
    token, pkg = full["token"], full["pkg"]
    for variant in ("unset", "dnt"):  # dnt runs after unset: it would see what unset left
        run = full["runs"][variant]
        assert said(run, "leftovers") == ["no pip leftover", "no npm leftover", "no write leftover"], variant
        out = said(run, "install")
        assert any(t.startswith("pip-ok /root/.pyenv/") or t.startswith("pip-ok /usr/") for t in out), out
        assert "pip-user-ok" in out, out
        if NPM:
            assert "npm-ok" in out, out
    host = subprocess.run([sys.executable, "-c", f"import {pkg}"], capture_output=True)
    assert host.returncode != 0
    leaks = [p for p in Path("/").glob(f"root/.pyenv/versions/*/lib/python*/site-packages/{pkg}*")]
    leaks += [p for p in (Path("/usr/lib/node_modules") / full["npm"], Path("/usr/local/lib/node_modules") / full["npm"],
                          Path("/usr/bin") / full["npm"], Path("/usr/local/bin") / full["npm"]) if p.exists()]
    assert leaks == [] and not alive_with(token)


# ---- proxy capture: the same sandbox without a network namespace ---------------------------------

@pytest.fixture(scope="module")
def proxied(tmp_path_factory, listener):
    tmp = tmp_path_factory.mktemp("hostile-proxy")
    token = "eap" + secrets.token_hex(4)
    shutil.copy(ESCAPES, tmp / "escapes.py")
    py = f'"{sys.executable}" "$SCENARIO_DIR/escapes.py"'
    out = tmp / "out"
    steps = [step("setns", f"{py} setns {listener.port}"), step("ca-key", f'{py} ca_key "{out}"'),
             step("truncate", f'{py} truncate "{out}"'), step("late", f"{py} late {listener.port} {token}")]
    result = audit(tmp, "proxy", ["unset"], steps, listener.port)
    wait_past(result["ended"] + 12)
    result.update(token=token)
    return result


def test_proxy_mode_is_contained_too(proxied, listener):
    assert proxied["r"].returncode == 0, proxied["r"].stderr[-3000:]
    run = proxied["runs"]["unset"]
    assert run["manifest"]["isolation"]["level"] == "contained"
    r = report(run, "setns")
    assert r["seen"] == [] and r["entered"] == []
    assert report(run, "truncate")["truncated"] == [] and sent(run, b"EVIDENCE-CANARY")
    assert not [k for k in report(run, "ca-key")["keys"] if "mitmproxy" in k or "egress-audit" in k]
    assert not alive_with(proxied["token"]) and not listener.received(proxied["token"].encode())
    assert (run["dir"] / "witness.strace").stat().st_size > 0  # the syscall witness still watches


# ---- where the machine cannot contain: weaker isolation, and every output says so ---------------

def test_the_forced_fallback_is_uncontained_everywhere(tmp_path):
    sc = tmp_path / "plain.yaml"
    sc.write_text("schema_version: 1\nname: plain\nvariants: [unset]\nsteps:\n  - name: hello\n    run: echo hello\n")
    env = {**os.environ, isolation.SWITCH: "off", "EGRESS_AUDIT_LINGER": "0.3"}
    out = tmp_path / "out"
    r = subprocess.run([*CLI, "run", str(sc), "--capture", "proxy", "--out", str(out), "--fail-on", "never",
                        "--format", "json,md,html"], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    verdict = [line for line in r.stderr.splitlines() if line.startswith("DONE")]
    assert verdict and "uncontained" in verdict[0]
    manifest = json.loads((out / "runs" / "plain" / "unset" / "run.json").read_text())
    assert manifest["isolation"]["level"] == "uncontained" and "EGRESS_AUDIT_SANDBOX" in manifest["isolation"]["detail"]
    assert "uncontained" in manifest["coverage_note"]
    assert json.loads((out / "findings.json").read_text())["scenarios"][0]["variants"][0]["isolation"] == "uncontained"
    assert "uncontained" in (out / "summary.md").read_text() and "uncontained" in (out / "report.html").read_text()
    doctor = subprocess.run([*CLI, "doctor"], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert any(line.startswith("NO  isolation: uncontained") for line in doctor.stdout.splitlines()), doctor.stdout
