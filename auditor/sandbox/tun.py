"""Full capture: mitmproxy `--mode tun`, its device the only way out of a fresh network namespace.

Per run: a *keeper* process creates the network, mount and UTS namespaces and holds them; mitmdump
creates a TUN device in the host namespace, which is moved into the keeper's namespace as its only
route (IPv4 and IPv6). The run's sandbox (box.py) starts inside that network namespace and runs the
steps; uncontained (isolation.py), steps enter it with `nsenter` instead. mitmproxy's own upstream
sockets stay in the host namespace, so allowed hosts can still be reached (by name, see capture.py).

The namespaces are anonymous: nothing is named in /run/netns, so nothing outlives its processes.
The keeper watches a pipe from the audit process; when the audit ends in any way (even SIGKILL),
the keeper ends every process in its namespace and mitmdump, and the kernel frees the namespaces
and the device. Nothing is found and removed by name later: each run cleans only what it made.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import CaptureError
from . import SessionInfo, isolation
from .box import Box, BoxSpec, host_uid, inside, stage_spec
from .isolation import contained_statement
from .keeper import Keeper
from .mitm import CA_VARIABLES, MitmProcess, ca_bundle, setpriv

DEVICE_PREFIX = "eat"  # + 8 hex digits: unique per run, within the 15 characters of a device name
SANDBOX_V4, SANDBOX_V6 = "10.0.0.1/32", "fd00:eaea::1/128"
DEVICE_TIMEOUT = 15.0
KEEPER_TIMEOUT = 10.0
# Host daemons that resolve names for local clients over Unix sockets (nss-resolve, nscd): masked
# inside the sandbox so that a lookup cannot leave through the host's resolver.
RESOLVER_SOCKET_DIRS = ("/run/systemd/resolve", "/run/nscd", "/var/run/nscd")
COVERAGE_NOTE = (
    "full capture (tun): every IPv4 and IPv6 packet of the sandbox went through the capture or was "
    "answered by it. Not seen: the content of TLS or QUIC from clients that refused the audit CA "
    "(their destination and SNI are recorded, SEC-004), traffic over Unix sockets to host daemons, "
    "and anything passed through the shared filesystem")
# Runs inside the sandbox before each step: the kernel hostname of the UTS namespace (and the
# files bind-mounted over /etc/hostname and /etc/hosts) follow the canary HOSTNAME of the step.
ENTER_SCRIPT = r"""
h=${HOSTNAME:-}
if [ -n "$h" ]; then
  read -r cur < /proc/sys/kernel/hostname
  if [ "$cur" != "$h" ]; then
    printf '%s\n' "$h" > /proc/sys/kernel/hostname
    printf '%s\n' "$h" > /etc/hostname
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$h" > /etc/hosts
  fi
fi
exec "$@"
"""

_lock = threading.Lock()  # CA creation and the per-audit machine-id are shared by parallel runs


# ---- what works here ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _namespace_probe() -> str | None:
    """Why namespaces cannot be created here, or None (a real attempt, in a child process)."""
    code = "import os; os.unshare(os.CLONE_NEWNET | os.CLONE_NEWNS | os.CLONE_NEWUTS)"
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot probe namespaces: {e}"
    if r.returncode:
        return "creating network/mount/UTS namespaces failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return None


def _tun_problem() -> str | None:
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun does not exist (load the tun module: modprobe tun)"
    try:
        os.close(os.open("/dev/net/tun", os.O_RDWR))
    except OSError as e:
        return f"/dev/net/tun cannot be opened: {e.strerror}"
    return None


def unavailable() -> str | None:
    """Why full capture cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (the rootless path is not implemented)"
    if sys.platform != "linux":
        return "needs Linux"
    problem = _tun_problem()
    if problem:
        return problem
    for tool, pkg in (("ip", "iproute2"), ("nsenter", "util-linux"), ("mount", "mount")):
        if not shutil.which(tool):
            return f"`{tool}` not found (install {pkg})"
    return _namespace_probe()


def doctor_rows() -> list[tuple[str, bool, str]]:
    """Rows for `egress-audit doctor`: each check, whether it passes, why it matters, how to fix it.

    All are optional: without them the audit still runs, in proxy mode, and says so."""
    from . import witness

    def apt(pkg: str) -> str:
        return f"apt-get install --no-install-recommends {pkg}"

    def tool(name: str, pkg: str, why: str) -> tuple[bool, str]:
        path = shutil.which(name)
        return bool(path), f"{path}: {why}" if path else f"not found ({why}); {apt(pkg)}"

    root = os.geteuid() == 0
    rows = [("optional: tun: root", root,
             "root: full capture can create namespaces and move the TUN device" if root else
             "not root: full capture needs root to create namespaces and move the TUN device, and the "
             "rootless path is not implemented, so proxy mode is used; run the audit as root (a CI "
             "container or VM) for full capture")]
    problem = _tun_problem()
    rows.append(("optional: tun: /dev/net/tun", problem is None,
                 problem or "usable: mitmproxy creates the capture device"))
    rows.append(("optional: tun: ip", *tool("ip", "iproute2", "moves and configures the TUN device")))
    rows.append(("optional: tun: nsenter", *tool("nsenter", "util-linux", "runs each step in the sandbox")))
    rows.append(("optional: tun: mount", *tool("mount", "mount", "plants resolv.conf, hosts and machine-id")))
    ns = _namespace_probe() if root else "not checked (needs root)"
    rows.append(("optional: tun: namespaces (unshare)", ns is None,
                 ns or "network, mount and UTS namespaces can be created"))
    rows.append(("optional: tcpdump", *tool("tcpdump", "tcpdump", "each tun run also writes capture.pcap, "
                                            "the packets as ground truth")))
    strace = witness.unavailable()
    rows.append(("optional: strace", strace is None, strace or f"{shutil.which('strace')}: in proxy mode, "
                 "direct connections that bypass the proxy are reported as SEC-006"))
    found = setpriv()
    rows.append(("optional: setpriv", bool(found), f"{found}: mitmdump ends with the audit even if the "
                 "audit is killed while it starts" if found else "not found or without --pdeathsig: a "
                 f"mitmdump started just as the audit is killed may be left running; {apt('util-linux')}"))
    nft = shutil.which("nft")
    rows.append(("optional: nft", bool(nft), f"{nft or 'not found'}: not needed — tun capture uses no "
                 "firewall rules; only a rootless capture (not implemented) would use nftables"))
    return rows




# ---- one run -----------------------------------------------------------------------------------

def _new_device_name() -> str:
    while True:
        name = DEVICE_PREFIX + secrets.token_hex(4)
        if not os.path.exists(f"/sys/class/net/{name}"):
            return name


def _run(argv: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CaptureError(f"{what} failed: {e}") from None
    if r.returncode:
        raise CaptureError(f"{what} failed ({' '.join(argv)}): {r.stderr.strip()[-500:]}")
    return r


def _audit_machine_id(state_dir: Path) -> str:
    """One invented machine-id per audit, like one machine: stable across its runs (PRIV-003)."""
    path = state_dir / "machine-id"
    with _lock:
        if not path.exists():
            path.write_text(secrets.token_hex(16) + "\n", encoding="utf-8")
        return path.read_text(encoding="utf-8").strip()


def _ensure_ca(confdir: Path) -> None:
    """Create the audit CA once, before parallel mitmdumps would each race to create their own."""
    from mitmproxy import certs

    with _lock:
        if not (confdir / "mitmproxy-ca.pem").exists():
            confdir.mkdir(parents=True, exist_ok=True)
            certs.CertStore.from_store(confdir, "mitmproxy", 2048)


class TunSession:
    def __init__(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool,
                 identity=None, box: BoxSpec | None = None):
        self.run_dir = run_dir
        self.device = _new_device_name()
        self.state_dir = state_dir
        self.files = state_dir / "tun" / self.device
        self.keeper: Keeper | None = None
        self.mitm: MitmProcess | None = None
        self.tcpdump: subprocess.Popen | None = None
        self.box: Box | None = None
        self._stopped = False
        run_dir.mkdir(parents=True, exist_ok=True)
        # First, so that whoever looks at a run (or at what it left) knows what it created.
        self._keeper_log = open(run_dir / "sandbox.log", "ab")
        self._keeper_log.write(f"device {self.device} files {self.files}\n".encode())
        self._keeper_log.flush()
        try:
            self._start(allow, state_dir, untrusted_ca, identity, box)
        except BaseException:
            self.stop()
            raise

    # ---- start-up ----------------------------------------------------------------------------
    def _start(self, allow, state_dir: Path, untrusted_ca: bool, identity, spec: BoxSpec | None) -> None:
        confdir = state_dir / "ca"
        _ensure_ca(confdir)
        hostname = getattr(identity, "hostname", "") or "localhost"
        fqdn = getattr(identity, "fqdn", "") or hostname
        machine_id = getattr(identity, "machine_id", "") or _audit_machine_id(state_dir)
        self._write_files(hostname, fqdn, machine_id)
        env: dict[str, str] = {}
        ca_names: tuple[str, ...] = ()
        if not untrusted_ca:
            with _lock:
                bundle = ca_bundle(confdir, state_dir / "ca-bundle.pem")
            env = {name: str(bundle) for name in CA_VARIABLES}
            ca_names = CA_VARIABLES
        expose = {path: inside(path) for path in set(env.values())} if spec else {}
        env = {k: expose.get(v, v) for k, v in env.items()}
        uid = host_uid() if spec else 0
        mac = getattr(identity, "mac", "") or ""
        self._start_keeper(hostname, mac, spec, uid, expose)
        # What the program really sees as planted: a machine twin is an intervention only here.
        self.planted = ("hostname", "fqdn", "machine_id") + (("mac",) if mac else ())
        self.mitm = MitmProcess(self.run_dir, f"tun:{self.device}", confdir, allow, state_dir)
        self.mitm.start()
        self.keeper.watch(self.mitm.proc.pid)
        self._wait_device_configured()
        self._move_device()
        self._start_tcpdump()
        note = COVERAGE_NOTE
        if self.tcpdump is None:
            note += "; no packet capture (capture.pcap) was written: " + self.pcap_problem
        pids = [p.pid for p in (self.mitm.proc, self.keeper.proc, self.tcpdump) if p is not None]
        prefix, launch, pidns = self.enter_prefix(), None, ""
        iso = isolation.current()
        if spec is not None:
            self.box = Box(spec, self.run_dir, files=self._plants(), uid=uid, keeper_info=self.keeper.info,
                           expose=expose, enter=self.keeper.nsenter("net", "mnt"))
            self.box.start()
            self.keeper.watch(self.box.proc.pid, self.box.init_pid)
            pids += [self.box.proc.pid, self.box.init_pid, self.box.agent_pid]
            prefix, launch, pidns = [], self.box.spawn, self.box.pidns
            iso = contained_statement(self.keeper.info)
        note += "; " + iso.detail
        self.info = SessionInfo(mode="tun", env=env, ca_env=ca_names, coverage=("tcp", "udp", "dns", "http"),
                                coverage_note=note, prefix=prefix, pids=tuple(pids), launch=launch,
                                pidns=pidns, isolation=iso, planted=self.planted,
                                manifest={"pcap": "capture.pcap" if self.tcpdump else None})

    def _plants(self) -> dict[str, str]:
        """Files planted inside the sandbox: inside path -> content."""
        out = {f"/etc/{name}": (self.files / name).read_text(encoding="utf-8")
               for name in ("resolv.conf", "hosts", "hostname", "machine-id")}
        if Path("/var/lib/dbus/machine-id").exists():
            out["/var/lib/dbus/machine-id"] = out["/etc/machine-id"]
        return out

    def _write_files(self, hostname: str, fqdn: str, machine_id: str) -> None:
        self.files.mkdir(parents=True, exist_ok=True)
        names = f"{fqdn}\t{hostname}" if fqdn != hostname else hostname
        content = {
            # Any address works: every datagram to port 53 is answered by the capture.
            "resolv.conf": "nameserver 10.0.0.53\noptions edns0\n",
            "hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{names}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            "hostname": hostname + "\n",
            "machine-id": machine_id + "\n",
        }
        for name, text in content.items():
            (self.files / name).write_text(text, encoding="utf-8")

    def _start_keeper(self, hostname: str, mac: str, spec: BoxSpec | None, uid: int,
                      expose: dict[str, str]) -> None:
        binds = {"/etc/resolv.conf": "resolv.conf", "/etc/hosts": "hosts", "/etc/hostname": "hostname",
                 "/etc/machine-id": "machine-id"}
        dbus_id = Path("/var/lib/dbus/machine-id")
        if dbus_id.exists() and not dbus_id.is_symlink():
            binds[str(dbus_id)] = "machine-id"
        kspec = {"net": True, "binds": {t: str(self.files / s) for t, s in binds.items()},
                 "mask": list(RESOLVER_SOCKET_DIRS), "hostname": hostname, "mac": mac,
                 "remove": str(self.files), "state": str(self.state_dir)}
        if spec is not None:
            kspec.update(stage_spec(uid, (self.state_dir, self.files), spec, expose, layer=True))
        self.keeper = Keeper(kspec, self._keeper_log, ("net", "mnt", "uts"))

    def _keeper_log_tail(self) -> str:
        try:
            return (self.run_dir / "sandbox.log").read_text(errors="replace").strip()[-500:]
        except OSError:
            return ""

    def _wait_device_configured(self) -> None:
        # mitmproxy sets these once it has configured the device; moving it earlier makes it exit.
        conf = Path("/proc/sys/net/ipv4/conf") / self.device
        deadline = time.monotonic() + DEVICE_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if all((conf / k).read_text().strip() == "1" for k in ("accept_local", "route_localnet")):
                    return
            except OSError:
                pass
            self.mitm.check()
            time.sleep(0.02)
        raise CaptureError(f"mitmdump did not configure the TUN device {self.device} within "
                           f"{DEVICE_TIMEOUT:.0f} s:\n" + self.mitm.log_tail())

    def nsenter(self, *kinds: str) -> list[str]:
        return self.keeper.nsenter(*kinds)

    def enter_prefix(self) -> list[str]:
        """Uncontained steps: nsenter into the keeper's namespaces (as root, on the host's files).
        --wd=. is opened before entering the mount namespace, so the step keeps its directory."""
        return [*self.nsenter("net", "mnt", "uts"), "--wd=.", "--", "/bin/sh", "-c", ENTER_SCRIPT,
                "egress-sandbox"]

    def _move_device(self) -> None:
        dev = self.device
        _run(["ip", "link", "set", dev, "netns", str(self.keeper.proc.pid)],
             "moving the TUN device into the sandbox")
        batch = [f"link set {dev} up", f"addr add {SANDBOX_V4} dev {dev}",
                 # quickack: without it delayed ACKs cost ~40 ms per response through the user-space stack
                 f"route add default dev {dev} quickack 1"]
        if os.path.exists("/proc/sys/net/ipv6"):
            batch += [f"addr add {SANDBOX_V6} dev {dev} nodad", f"route add ::/0 dev {dev} quickack 1"]
        _run([*self.nsenter("net"), "ip", "-batch", "-"], "configuring the sandbox network",
             input="\n".join(batch) + "\n")

    def _start_tcpdump(self) -> None:
        self.pcap_problem = ""
        tcpdump = shutil.which("tcpdump")
        if not tcpdump:
            self.pcap_problem = "tcpdump is not installed"
            return
        log = self.run_dir / "tcpdump.log"
        with open(log, "ab") as fo:
            # -U and --immediate-mode: each packet is written as it arrives, so the file is whole
            # even when tcpdump is stopped (or the audit killed) right after the last one.
            # -Z root: Debian's tcpdump would otherwise drop to a user that cannot write the run dir.
            # -B: a larger kernel buffer, so that a busy machine drops fewer packets of the ground truth.
            proc = subprocess.Popen([*self.nsenter("net"), "--", tcpdump, "-i", self.device, "-n", "-U", "-B", "8192",
                                     "--immediate-mode", "-Z", "root", "-w", str(self.run_dir / "capture.pcap")],
                                    stdin=subprocess.DEVNULL, stdout=fo, stderr=fo, start_new_session=True)
        self.keeper.watch(proc.pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if b"listening on" in log.read_bytes():
                self.tcpdump = proc
                return
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        _end(proc)
        self.pcap_problem = "tcpdump did not start: " + log.read_text(errors="replace").strip()[-300:]

    # ---- running -----------------------------------------------------------------------------
    def check(self) -> None:
        self.mitm.check()
        if self.keeper.proc.poll() is not None:
            raise CaptureError(f"the sandbox keeper died (exit {self.keeper.proc.returncode}); the sandbox "
                               "network is gone:\n" + self._keeper_log_tail())
        if self.box is not None:
            self.box.check()

    def stop(self) -> list[str]:
        """Tear down in dependency order; every step runs even if an earlier one failed."""
        if self._stopped:
            return []
        self._stopped = True
        problems: list[str] = []
        if self.box is not None:  # first: nothing of the program may run while the capture stops
            problems += self.box.stop()
        if self.tcpdump is not None:  # before mitmdump: the device vanishes with it
            _end(self.tcpdump)
        if self.mitm is not None and self.mitm.proc is not None:
            problems += self.mitm.stop()
        if self.keeper is not None:
            problems += self.keeper.stop()
        self._keeper_log.close()
        shutil.rmtree(self.files, ignore_errors=True)
        return problems


def _end(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class TunBackend:
    name = "tun"

    def start(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool,
              identity=None, box: BoxSpec | None = None) -> TunSession:
        return TunSession(run_dir, allow, state_dir, untrusted_ca, identity, box)
