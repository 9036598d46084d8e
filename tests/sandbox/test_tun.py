"""The tun backend's pieces: availability, doctor rows, mode selection, and the keeper that
guarantees clean-up even when the audit process is killed."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.errors import CaptureError
from auditor.sandbox import doctor_report, isolation, select_mode, tun

needs_root = pytest.mark.skipif(tun.unavailable() is not None,
                                reason=f"full capture unavailable: {tun.unavailable()}")


def test_device_names_are_unique_and_fit_the_kernel_limit():
    names = {tun._new_device_name() for _ in range(200)}
    assert len(names) == 200
    assert all(len(n) <= 15 and n.startswith(tun.DEVICE_PREFIX) for n in names)


def test_not_root_means_unavailable_with_a_reason(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in tun.unavailable()


def test_auto_falls_back_to_proxy_and_says_why(monkeypatch):
    why = "needs root (the rootless path is not implemented)"
    monkeypatch.setattr(tun, "unavailable", lambda: why)
    assert select_mode("auto") == ("proxy", f"full capture unavailable: {why}")
    with pytest.raises(CaptureError, match="needs root"):
        select_mode("tun")
    monkeypatch.setattr(tun, "unavailable", lambda: None)
    assert select_mode("auto") == ("tun", "full capture available")
    assert select_mode("proxy") == ("proxy", "requested")


def test_doctor_rows_say_why_and_how_to_fix():
    rows = {name: (ok, detail) for name, ok, detail in tun.doctor_rows()}
    for check in ("root", "/dev/net/tun", "ip", "nsenter", "namespaces (unshare)"):
        assert f"optional: tun: {check}" in rows
    for check in ("tcpdump", "strace", "nft"):
        assert f"optional: {check}" in rows
    for name, (ok, detail) in rows.items():
        assert detail, name
    assert "rootless" in rows["optional: nft"][1]


def test_doctor_without_root_explains_proxy_mode(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    tun._namespace_probe.cache_clear()
    rows = {name: (ok, detail) for name, ok, detail in doctor_report()}
    ok, detail = rows["optional: tun: root"]
    assert not ok and "proxy mode is used" in detail
    assert rows["capture auto"][1].startswith("will use proxy (full capture unavailable: needs root")
    tun._namespace_probe.cache_clear()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fo:
            return fo.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@needs_root
def test_keeper_plants_identity_and_ends_everything_when_its_pipe_closes(tmp_path):
    state = tmp_path / "state"
    files = state / "tun" / "eat0"
    files.mkdir(parents=True)
    (files / "hostname").write_text("ws-planted\n")
    spec = {"net": True, "binds": {"/etc/hostname": str(files / "hostname")}, "mask": [], "hostname": "ws-planted",
            "remove": str(files), "state": str(state)}
    keeper = subprocess.Popen([sys.executable, "-m", "auditor.sandbox.keeper", json.dumps(spec)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=Path(tun.__file__).parents[2], start_new_session=True)
    assert keeper.stdout.readline() == b"ready {}\n", keeper.stderr.read()
    k = keeper.pid
    ns = [f"--net=/proc/{k}/ns/net", f"--mount=/proc/{k}/ns/mnt", f"--uts=/proc/{k}/ns/uts"]
    inside = subprocess.run(["nsenter", *ns, "sh", "-c", "hostname; cat /etc/hostname; ls /sys/class/net"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert inside == ["ws-planted", "ws-planted", "lo"]
    assert Path("/etc/hostname").read_text() != "ws-planted\n"  # the host is untouched
    in_sandbox = subprocess.Popen(["nsenter", ns[0], "sleep", "60"], start_new_session=True)
    watched = subprocess.Popen(["sleep", "60"], start_new_session=True)
    keeper.stdin.write(f"pid {watched.pid}\n".encode())
    keeper.stdin.flush()
    time.sleep(0.2)
    keeper.stdin.close()  # what happens when the audit process dies, even by SIGKILL
    assert keeper.wait(15) == 0
    for p in (in_sandbox, watched):
        p.wait(5)
    assert not state.exists()  # the dead audit's temporary state goes too
    assert not alive(k)


@needs_root
@pytest.mark.skipif(isolation.problem() is not None, reason=f"no sandbox here: {isolation.problem()}")
def test_a_canary_mac_is_planted_on_a_dummy_interface_without_a_route(tmp_path):
    from types import SimpleNamespace

    from auditor.sandbox.box import BoxSpec

    home = tmp_path / "home" / "tamsin42ab"
    (home / "src" / "p").mkdir(parents=True)
    (tmp_path / "state").mkdir()
    ident = SimpleNamespace(hostname="ws-mac042", fqdn="ws-mac042.corp.example", machine_id="ab" * 16,
                            mac="02:5e:ca:4a:12:34")  # Identity.mac where the identity has one
    spec = BoxSpec(home=home, home_inside="/home/tamsin42ab", username="tamsin42ab", full_name="Tamsin K",
                   hostname=ident.hostname, scenario_dir=tmp_path, hide=(tmp_path / "run", tmp_path / "state"))
    session = tun.TunBackend().start(tmp_path / "run", (), tmp_path / "state", False, identity=ident, box=spec)
    try:
        p = session.info.launch(["sh", "-c", "cat /sys/class/net/eth0/address; ip -4 route; ip -6 route"],
                                cwd="/home/tamsin42ab", env={"PATH": os.environ["PATH"]},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.stdout.read().decode()
        assert p.wait(30) == 0, out
    finally:
        session.stop()
    mac, *routes = out.strip().splitlines()
    assert mac == ident.mac
    assert routes and all(f"dev {session.device}" in r for r in routes), routes  # the only way out


def test_the_keepers_removal_removes_links_without_following_them(tmp_path):
    from auditor.sandbox.keeper import remove_tree

    outside = tmp_path / "cache"
    (outside / "kept").mkdir(parents=True)
    state = tmp_path / "state"
    (state / "sandbox" / "home").mkdir(parents=True)
    (state / "sandbox" / "home" / "f").write_text("x")
    (state / "download-cache").symlink_to(outside, target_is_directory=True)
    remove_tree(state)
    assert not state.exists() and (outside / "kept").is_dir()
