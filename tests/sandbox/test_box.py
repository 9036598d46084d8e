"""The run sandbox (bubblewrap + agent): what the program sees, and that one PID namespace holds a run."""

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor import proctree
from auditor.errors import CaptureError
from auditor.sandbox import box, isolation, layer

contained = pytest.mark.skipif(isolation.problem() is not None, reason=f"no sandbox here: {isolation.problem()}")


def spec(tmp_path, **kw) -> box.BoxSpec:
    home = tmp_path / "host-home"
    (home / "src" / "proj").mkdir(parents=True, exist_ok=True)
    scen = tmp_path / "scenario"
    scen.mkdir(exist_ok=True)
    (scen / "tool.sh").write_text("echo from-the-scenario\n")
    args = dict(home=home, home_inside="/home/ysoldeab12", username="ysoldeab12", full_name="Ysolde Kavira",
                hostname="ws-canary042", scenario_dir=scen, hide=(tmp_path / "state",))
    return box.BoxSpec(**{**args, **kw})


# ---- pure parts ---------------------------------------------------------------------------------

def test_mount_order_puts_deeper_paths_after_the_ones_that_hide_them(tmp_path):
    s = spec(tmp_path, scenario_dir=Path("/root/proj/scen"), hide=(Path("/work/out/runs"), Path("/tmp/state")))
    bundle, mods = tmp_path / "ca-bundle.pem", tmp_path / "node_modules"
    bundle.write_text("CERT")
    mods.mkdir()
    args = box.mount_args(s, files={"/etc/passwd": 7}, layer={"root": "/stage/root", "trees": {"/root/.pyenv": "/stage/t/0"}},
                          expose={str(bundle): "/run/egress-audit/ca-bundle.pem", str(mods): str(mods)},
                          real_home="/root", staged={str(s.home): "/stage/s/0"})
    assert args[:3] == ["--bind", "/stage/root", "/"]
    pos = {(args[i], args[i + 2] if args[i] not in ("--tmpfs", "--dev", "--proc") else args[i + 1]): i
           for i in range(len(args)) if args[i].startswith("--")}
    assert pos[("--tmpfs", "/root")] < pos[("--bind", "/root/.pyenv")]  # a toolchain in the hidden HOME
    assert pos[("--tmpfs", "/root")] < pos[("--ro-bind", "/root/proj/scen")]
    assert pos[("--tmpfs", "/tmp")] < pos[("--ro-bind", str(mods))]  # a directory is bound ...
    assert str(bundle) not in args  # ... a file is copied in (Box), never bound from the audit's state
    assert pos[("--tmpfs", "/home")] < pos[("--bind", "/home/ysoldeab12")]
    assert ("--tmpfs", "/work/out/runs") in pos and ("--tmpfs", "/tmp/state") not in pos  # /tmp hides it already
    assert args[pos[("--bind", "/home/ysoldeab12")] + 1] == "/stage/s/0"


def test_audit_paths_inside_a_bound_folder_are_covered_again(tmp_path):
    scen = tmp_path / "scen"
    s = spec(tmp_path, scenario_dir=scen, hide=(scen / "out" / "runs", tmp_path / "elsewhere"))
    args = box.mount_args(s, files={}, layer=None, expose={}, real_home="/root", staged={})
    i = args.index(str(scen))  # the scenario folder, bound over the private /tmp ...
    assert args[i - 1] == "--ro-bind" and args.index("--tmpfs", i) == args.index(str(scen / "out" / "runs")) - 1
    assert str(tmp_path / "elsewhere") not in args  # ... and what /tmp already hides is left alone


def test_runtime_trees_in_hidden_places_stay_runnable_read_only(tmp_path, monkeypatch):
    # A clone in /tmp runs its audit from /tmp/…/.venv and its steps call sys.executable; a tool on
    # PATH may live under the real HOME. Both are bound back read-only; the audit's own paths and
    # the toolchains the layer already makes writable are not.
    venv = tmp_path / "clone" / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    tools = tmp_path / "realhome" / ".local" / "bin"
    tools.mkdir(parents=True)
    pyenv = tmp_path / "realhome" / ".pyenv" / "shims"
    pyenv.mkdir(parents=True)
    state = tmp_path / "clone" / ".venv" / "state"
    monkeypatch.setenv("PATH", os.pathsep.join([str(venv / "bin"), str(tools), str(pyenv), "/usr/bin", "relative"]))
    monkeypatch.setenv("PYENV_ROOT", str(pyenv.parent))
    assert box.runtime_trees()[1:] == [str(venv), str(tools), str(pyenv), "/usr/bin"]
    monkeypatch.setattr(box, "PRIVATE", (str(tmp_path / "clone"), "/home"))
    s = spec(tmp_path)
    got = box.sources(s, {}, str(tmp_path / "realhome"))
    assert str(venv) in got and str(tools) in got
    assert str(pyenv) not in got and "/usr/bin" not in got  # layered toolchain; never hidden
    s = spec(tmp_path, hide=(state,))
    assert str(venv) not in box.sources(s, {}, str(tmp_path / "realhome"))  # it holds the audit's state


def test_without_a_layer_the_host_is_read_only(tmp_path):
    args = box.mount_args(spec(tmp_path), files={}, layer=None, expose={}, real_home="/root", staged={})
    assert args[:3] == ["--ro-bind", "/", "/"]


def test_the_canary_user_replaces_the_host_account_with_its_uid():
    passwd, group = isolation.accounts("ysoldeab12", "Ysolde Kavira", "/home/ysoldeab12")
    lines = passwd.splitlines()
    assert lines[-1] == "ysoldeab12:x:1000:1000:Ysolde Kavira:/home/ysoldeab12:/bin/bash"
    assert [line for line in lines if line.split(":")[2] == "1000"] == [lines[-1]]
    assert lines[0].startswith("root:")
    assert group.splitlines()[-1] == "ysoldeab12:x:1000:"


def test_real_mounts_skip_virtual_and_private_file_systems():
    info = "\n".join([
        "22 1 8:1 / / rw,relatime - ext4 /dev/vda rw",
        "23 22 0:5 / /proc rw - proc proc rw",
        "24 22 0:6 / /dev rw - devtmpfs udev rw",
        "25 22 0:7 / /tmp rw - tmpfs tmpfs rw",
        "26 22 8:2 / /home rw - ext4 /dev/vdb rw",
        "27 26 8:3 / /home/data\\040x rw - xfs /dev/vdc rw",
        "28 22 0:8 / /run/user/0 rw - tmpfs tmpfs rw",
        "29 22 8:1 /state /tmp/egress-audit-x/stage rw - ext4 /dev/vda rw",
        "30 22 0:30 / /opt rw - overlay overlay rw",
    ])
    assert layer.real_mounts(info, skip=("/tmp/egress-audit-x",)) == ["/", "/home", "/opt", "/home/data x"]


def test_the_switch_forces_the_uncontained_fallback_and_says_how_to_undo_it(monkeypatch):
    monkeypatch.setenv(isolation.SWITCH, "off")
    iso = isolation.current()
    assert iso.level == "uncontained" and "switched off" in iso.detail and iso.fix == f"unset {isolation.SWITCH}"
    name, ok, detail = isolation.doctor_row()
    assert (name, ok) == ("isolation", False) and detail.startswith("uncontained")


def test_a_machine_without_bubblewrap_is_uncontained_with_the_fix(monkeypatch):
    monkeypatch.delenv(isolation.SWITCH, raising=False)
    monkeypatch.setattr(isolation, "bwrap", lambda: None)
    isolation._probe.cache_clear()
    try:
        iso = isolation.current()
        assert iso.level == "uncontained" and "apt-get install --no-install-recommends bubblewrap" in iso.fix
        assert "uncontained" in iso.detail and "bubblewrap" in iso.detail
    finally:
        isolation._probe.cache_clear()


def test_contained_statement_says_when_installs_have_nowhere_to_go():
    assert "private writable layer" in isolation.contained_statement({"layer": {"notes": []}}).detail
    iso = isolation.contained_statement({"layer_problem": "overlay not supported"})
    assert iso.contained and "no writable layer (overlay not supported)" in iso.detail


# ---- a real sandbox -------------------------------------------------------------------------------

@pytest.fixture
def sandbox(tmp_path):
    s = spec(tmp_path)
    files = {"/etc/hostname": "ws-canary042\n", "/etc/machine-id": "0123456789abcdef0123456789abcdef\n"}
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "secret-ca.pem").write_text("PRIVATE KEY\n")
    (tmp_path / "state" / "ca-bundle.pem").write_text("-----BEGIN CERTIFICATE-----\nAUDIT-CA\n")
    b, keeper = box.open_box(s, tmp_path, tmp_path / "state", tmp_path / "state" / "box", files=files,
                             expose={str(tmp_path / "state" / "ca-bundle.pem"): box.inside("ca-bundle.pem")})
    yield b
    b.stop()
    if keeper:
        keeper.stop()


def run(b, script: str, timeout=30) -> tuple[int, str]:
    p = b.spawn(["bash", "-c", script], cwd="/home/ysoldeab12/src/proj",
                env={"PATH": os.environ["PATH"], "HOME": "/home/ysoldeab12"},
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read().decode()
    return p.wait(timeout), out


@contained
def test_the_program_is_the_canary_user_and_sees_only_its_own_processes(sandbox, tmp_path):
    code, out = run(sandbox, "id -un; id -u; hostname; cat /etc/machine-id; echo $PWD; ls /proc | grep -c '^[0-9]'")
    user, uid, host, mid, cwd, nprocs = out.split()
    assert (code, user, uid, host, cwd) == (0, "ysoldeab12", "1000", "ws-canary042", "/home/ysoldeab12/src/proj")
    assert mid == "0123456789abcdef0123456789abcdef"
    assert int(nprocs) <= 6  # bubblewrap's init, the agent, bash, ls, grep
    code, out = run(sandbox, f"cat {tmp_path / 'state' / 'secret-ca.pem'} 2>&1; echo x > /etc/probe 2>&1; "
                             "cat \"$0\" 2>&1; ls /root 2>&1 | wc -l")
    assert "PRIVATE KEY" not in out and "No such file" in out and "Permission denied" in out
    code, out = run(sandbox, "cat /run/egress-audit/ca-bundle.pem; echo x >> /run/egress-audit/ca-bundle.pem")
    assert "AUDIT-CA" in out and code != 0  # the CA bundle: readable, not writable


@contained
def test_a_background_process_outlives_its_step_and_dies_with_the_sandbox(sandbox):
    code, _ = run(sandbox, "(setsid sleep 300 >/dev/null 2>&1 &); exit 3")
    assert code == 3
    members = proctree.run_processes("", set(), {sandbox.init_pid, sandbox.agent_pid}, pidns=sandbox.pidns)
    assert len(members) == 1
    code, out = run(sandbox, "for i in $(seq 50); do pgrep -x sleep && exit 0; sleep 0.1; done; exit 1")
    assert code == 0 and out.strip()  # the next step still sees it
    [sleeper] = members
    sandbox.stop()
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{sleeper}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{sleeper}") or open(f"/proc/{sleeper}/stat").read().split(") ")[1][0] == "Z"


@contained
def test_a_step_gets_a_terminal_of_its_own(sandbox):
    master, slave = pty.openpty()
    p = sandbox.spawn(["bash", "-c", "tty >/dev/null && echo is-a-tty; test -t 0 && echo stdin-tty"],
                      cwd="/home/ysoldeab12", env={"PATH": os.environ["PATH"]}, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    assert p.wait(20) == 0
    out = b""
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert b"stdin-tty" in out


@contained
def test_killing_the_agent_from_inside_is_noticed(sandbox):
    with pytest.raises(CaptureError, match="agent ended unexpectedly"):
        run(sandbox, "kill -9 2; sleep 1")  # the reply to the spawn may already be lost
        sandbox.check()


@contained
def test_the_agent_cannot_be_inspected_from_inside(sandbox):
    code, out = run(sandbox, "ls /proc/2/fd 2>&1; cat /proc/2/environ 2>&1 | head -c 100")
    assert "Permission denied" in out and "socket" not in out


def test_uid_is_unprivileged_and_varies():
    if os.geteuid() != 0:
        assert box.host_uid() == os.getuid()
        return
    uids = {box.host_uid() for _ in range(20)}
    assert len(uids) > 1 and all(u >= 0x40000000 for u in uids)
    assert all(str(u) not in Path("/etc/passwd").read_text() for u in uids)
    assert sys.platform == "linux"
