"""The keeper: one process per run that creates the run's namespaces, holds them, and cleans up.

    python -m auditor.sandbox.keeper SPEC-JSON

Root in namespaces of its own: a mount namespace always (where it plants files and mounts the
run's writable layer, see layer.py, none of it visible on the host), and for full capture a network
namespace (whose only way out becomes the TUN device) and a UTS namespace. It prints one line,
`ready {json}`, then reads commands on stdin: `pid N` (a host process to end with the run) and
`exit`. EOF without `exit` means the audit process died, however it died: the keeper then ends
every process of the run and removes the dead audit's state directory (it holds the CA key).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import CaptureError
from ..proctree import in_namespace, terminate
from . import layer

DUMMY_V4 = "10.0.0.2/32"
START_TIMEOUT = 10.0
NS_FLAGS = {"net": "--net", "mnt": "--mount", "uts": "--uts"}


class Keeper:
    """The audit's handle on a keeper process (host side)."""

    def __init__(self, spec: dict, log, kinds: tuple[str, ...]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "auditor.sandbox.keeper", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                 "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        self.fds: dict[str, int] = {}
        line = readline(self.proc.stdout, START_TIMEOUT)
        if not line.startswith("ready"):
            self.stop()
            raise CaptureError("the sandbox namespaces could not be created: " + (line.strip() or "no answer"))
        self.info = json.loads(line[len("ready"):] or "{}")
        for kind in kinds:
            # Held open here: steps enter through these descriptors, never through a PID that
            # could be reused by an unrelated process if the keeper died.
            self.fds[kind] = os.open(f"/proc/{self.proc.pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)

    def nsenter(self, *kinds: str) -> list[str]:
        me = os.getpid()
        return [shutil.which("nsenter") or "nsenter", *(f"{NS_FLAGS[k]}=/proc/{me}/fd/{self.fds[k]}" for k in kinds)]

    def tell(self, line: str) -> None:
        try:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise CaptureError("the sandbox keeper process died") from None

    def watch(self, *pids: int) -> None:
        for pid in pids:
            self.tell(f"pid {pid}")

    def stop(self) -> list[str]:
        problems = []
        try:
            self.proc.stdin.write(b"exit\n")
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            problems.append("the sandbox keeper did not end; killed")
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        return problems


def readline(stream, timeout: float) -> str:
    """One line from a child's pipe, or "" after timeout (the child is then considered failed)."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\n" not in buf and time.monotonic() < deadline:
            if sel.select(max(0.0, deadline - time.monotonic())):
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
    finally:
        sel.close()
    return buf.decode(errors="replace")


# ---- the keeper process ------------------------------------------------------------------------


def _setup(spec: dict) -> dict:
    flags = os.CLONE_NEWNS | (os.CLONE_NEWNET | os.CLONE_NEWUTS if spec.get("net") else 0)
    os.unshare(flags)
    argvs = [["mount", "--make-rprivate", "/"]]
    if spec.get("net"):
        # A sysfs of this network namespace: the host's interfaces (and MAC) are not listed.
        argvs += [["umount", "-l", "/sys"], ["mount", "-t", "sysfs", "-o", "nosuid,nodev,noexec", "sysfs", "/sys"]]
    argvs += [["mount", "--bind", src, dst] for dst, src in spec.get("binds", {}).items() if os.path.exists(dst)]
    argvs += [["mount", "-t", "tmpfs", "-o", "size=16k,mode=755", "tmpfs", d]
              for d in spec.get("mask", ()) if os.path.isdir(d)]
    if spec.get("net"):
        argvs.append(["ip", "link", "set", "lo", "up"])
    for argv in argvs:
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    if spec.get("net"):
        socket.sethostname(spec["hostname"])
        if spec.get("mac"):
            _mac_interface(spec["mac"])
    info: dict = {}
    if spec.get("stage") is not None:
        info.update(_stage(spec))
    return info


def _mac_interface(mac: str) -> None:
    """A canary MAC where programs look for one (getifaddrs, SIOCGIFCONF and Node's
    networkInterfaces list only interfaces with an address). No route but its own address: the TUN
    device stays the only way out, and this interface discards what it is given (a dummy device;
    a bridge without ports where the kernel has no dummy driver)."""
    for kind in ("dummy", "bridge"):
        if subprocess.run(["ip", "link", "add", "eth0", "type", kind], capture_output=True).returncode == 0:
            break
    else:
        raise RuntimeError("cannot create an interface for the canary MAC (neither dummy nor bridge devices)")
    for argv in (["ip", "link", "set", "eth0", "address", mac, "addrgenmode", "none"],
                 ["ip", "addr", "add", DUMMY_V4, "dev", "eth0", "noprefixroute"],
                 ["ip", "link", "set", "eth0", "up"]):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")


def _stage(spec: dict) -> dict:
    """The sandbox's sources, where its unprivileged user can reach them: a tmpfs (this namespace
    only) holding the writable layer and bind mounts of every host path the sandbox binds (its HOME
    under the audit's private state dir, a scenario under root's HOME, …)."""
    base = Path(spec["base"])
    # Opened first: the stage may cover the directories they are in (the audit's state under /tmp).
    sources = [(src, writable, os.open(src, os.O_PATH | os.O_CLOEXEC)) for src, writable in spec["stage"]]
    layer.mount("egress-stage", str(base), "tmpfs", 0, "mode=0711")
    info: dict = {"stage": {}}
    try:
        userns = layer.idmap_userns(spec["uid"])
    except OSError:
        userns = None
    try:
        if spec.get("layer"):
            lay = spec["layer"]
            try:
                info["layer"] = layer.build(base / "layer", spec["uid"], lay["trees"], tuple(lay["skip"]), userns)
            except OSError as e:
                info["layer_problem"] = e.strerror or str(e)
        for i, (src, writable, fd) in enumerate(sources):
            dest = base / "s" / str(i)
            dest.parent.mkdir(exist_ok=True)
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                dest.mkdir()
            else:
                dest.touch()
            _stage_one(fd, str(dest), writable, userns)
            os.close(fd)
            info["stage"][src] = str(dest)
    finally:
        if userns is not None:
            os.close(userns)
    return info


def _stage_one(fd: int, dest: str, writable: bool, userns: int | None) -> None:
    if not writable and userns is not None:
        # The scenario, the interpreter, the CA bundle: read-only, and root's files readable by the
        # sandbox user whatever their mode (a scenario in a 0700 directory of root's).
        try:
            layer.idmapped_clone(fd, dest, userns, readonly=True)
            return
        except OSError:
            pass
    layer.mount(f"/proc/self/fd/{fd}", dest, None, layer.MS_BIND | layer.MS_REC)
    if not writable:
        layer.mount("none", dest, None, layer.MS_BIND | layer.MS_REMOUNT | layer.MS_RDONLY)


def main(spec: dict) -> int:
    try:
        info = _setup(spec)
    except (OSError, RuntimeError) as e:
        print(e, file=sys.stderr, flush=True)
        print(f"failed: {e}", flush=True)
        return 1
    my_ns = os.readlink("/proc/self/ns/net") if spec.get("net") else ""
    watched: dict[int, bytes] = {}  # host processes to end with us: pid -> start time (PID reuse)
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready " + json.dumps(info), flush=True)
    orderly = False
    try:
        for line in sys.stdin:  # EOF without "exit": the audit process died, however it died
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "pid" and arg.isdigit():
                watched[int(arg)] = start_time(int(arg))
            elif cmd == "exit":
                orderly = True
                break
    finally:
        end_all(my_ns, watched)
        if spec.get("base"):
            # The staging area holds bind mounts of host directories (the scenario, HOME) and the
            # layer: detach them before anything below is removed, or the removal would reach them.
            layer.umount(spec["base"])
        remove_tree(Path(spec["remove"]))
        if not orderly:  # nobody is left to remove the dead audit's temporary state (HOMEs, CA)
            remove_tree(Path(spec["state"]))
    return 0


def remove_tree(top: Path) -> None:
    """rmtree that never crosses into another mounted file system."""
    try:
        dev = top.lstat().st_dev
    except OSError:
        return
    for d, dirs, names in os.walk(top, topdown=False):
        for name in dirs:
            p = os.path.join(d, name)
            try:
                if os.path.islink(p):  # os.walk lists a link to a directory (the download cache) here
                    os.unlink(p)
                elif os.lstat(p).st_dev == dev and not os.path.ismount(p):
                    os.rmdir(p)
            except OSError:
                pass
        for name in names:
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass
    try:
        os.rmdir(top)
    except OSError:
        pass


def start_time(pid: int) -> bytes:
    """The start time of a live process (b"" once it is gone or a zombie): tells PID reuse apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fo:
            stat = fo.read()
        fields = stat[stat.rfind(b")") + 2:].split()
        return b"" if fields[0] == b"Z" else fields[19]
    except (OSError, IndexError):
        return b""


def end_all(my_ns: str, watched: dict[int, bytes]) -> None:
    """SIGTERM, then SIGKILL, every watched host process and every process in our network namespace."""
    me = os.getpid()

    def targets() -> set[int]:
        found = {pid for pid, st in watched.items() if st and start_time(pid) == st}
        return (found | in_namespace(my_ns, "net") if my_ns else found) - {me}

    terminate(targets, 3.0, 3.0)


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
