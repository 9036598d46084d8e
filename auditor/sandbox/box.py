"""A run's sandbox: one bubblewrap instance for the whole run, with an agent inside that starts steps.

One sandbox per run, not per step: the steps share HOME, the work dir and the writable layer, and
a detached process started by one step keeps running through the next ones and the linger, as on a
real machine. Every process of the run lives in the sandbox's PID namespace; when the run ends the
agent exits, bubblewrap's init exits, and the kernel kills whatever is left.

Inside, the program is uid 1000 (the canary user, planted in /etc/passwd) of its own user namespace,
mapped to an unused host uid: it is not host root, and host root's files are not its own. Host paths
of the audit (state dir with the CA key, run dirs with flows, events and pcap) are covered by empty
tmpfs mounts; the files the program needs from there (the CA bundle) are bound back read-only.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import CaptureError
from . import agent, isolation

INSIDE_UID = 1000
READY_TIMEOUT = 15.0
LOG_LIMIT = 64 * 1024  # of bubblewrap's own messages kept in sandbox.log
PRIVATE = ("/tmp", "/var/tmp", "/run", "/home")  # fresh and empty in every sandbox
STAGE = "/tmp"
RUN_DIR = "/run/egress-audit"  # read-only files of the audit the program needs (the CA bundle)
# Toolchains users keep in HOME (HOME itself is hidden): variable, directory under the real HOME.
TOOLCHAINS = (("PYENV_ROOT", ".pyenv"), ("NVM_DIR", ".nvm"), ("CARGO_HOME", ".cargo"),
              ("RUSTUP_HOME", ".rustup"), ("VOLTA_HOME", ".volta"), ("GOPATH", "go"), ("BUN_INSTALL", ".bun"),
              ("DENO_INSTALL", ".deno"), ("SDKMAN_DIR", ".sdkman"))


@dataclass(frozen=True)
class BoxSpec:
    """What the runner decides about a run's sandbox."""

    home: Path  # host-side HOME directory, bound at home_inside (the work dir is inside it)
    home_inside: str
    username: str
    full_name: str
    hostname: str
    scenario_dir: Path  # visible read-only at the same path ($SCENARIO_DIR)
    hide: tuple[Path, ...] = ()  # the audit's own paths: state dir, run dirs


def host_uid() -> int:
    """The host uid the sandbox user maps to: unused by any account, different per run."""
    if os.geteuid() != 0:
        return os.getuid()
    return 0x40000000 + secrets.randbelow(0x3FFF0000)


def software_trees(real_home: Path) -> list[str]:
    """Trees installs write to: made writable (copy-on-write) for the sandbox user."""
    trees = ["/usr", "/opt"]
    for var, sub in TOOLCHAINS:
        for cand in (os.environ.get(var, ""), str(real_home / sub)):
            if cand and os.path.isdir(cand):
                trees.append(os.path.realpath(cand))
    return list(dict.fromkeys(trees))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def python_prefix() -> str:
    """The interpreter the agent runs with, and the tree it needs."""
    return os.path.realpath(sys.base_prefix if os.path.isdir(sys.base_prefix) else sys.prefix)


def _hidden(spec: BoxSpec, real_home: str) -> list[str]:
    """Host trees replaced by an empty tmpfs: private ones, and the real HOME (its secrets)."""
    hidden = list(PRIVATE)
    if real_home not in ("", "/") and not any(_under(real_home, h) for h in hidden):
        hidden.append(real_home)
    return hidden


def runtime_trees(path_var: str | None = None) -> list[str]:
    """What steps may run that lives on the host: the environment the audit runs in (a venv:
    `sys.executable` in a step), and every directory on PATH — a venv's bin/ as its
    whole venv (pyvenv.cfg and site-packages beside it)."""
    trees = [os.path.realpath(sys.prefix)]
    for entry in (os.environ.get("PATH", "") if path_var is None else path_var).split(os.pathsep):
        if not os.path.isabs(entry) or not os.path.isdir(entry):
            continue
        parent = os.path.dirname(entry.rstrip("/"))
        trees.append(os.path.realpath(parent if os.path.isfile(os.path.join(parent, "pyvenv.cfg")) else entry))
    return list(dict.fromkeys(trees))


def sources(spec: BoxSpec, expose: dict[str, str], real_home: str) -> list[str]:
    """Host paths the sandbox binds: its HOME, the scenario, files of the audit it must read, and
    the runtime trees (runtime_trees) that a hidden tree would cover: read-only, so that a venv or
    a tool in /tmp or under the real HOME stays runnable while the rest stays hidden. Never a tree
    the audit hides (its state, run directories, cache), never one that holds them, and not what
    the copy-on-write layer already makes writable (toolchains under HOME)."""
    # Exposed files are copied in (see Box): only directories are bound.
    out = [str(spec.home), str(spec.scenario_dir), *(p for p in expose if os.path.isdir(p))]
    hidden = _hidden(spec, real_home)
    audit = [str(p) for p in spec.hide]
    prefix = python_prefix()
    if any(_under(prefix, h) for h in hidden + audit):
        out.append(prefix)  # the agent's interpreter: always
    layered = software_trees(Path(real_home)) if real_home not in ("", "/") else []
    for tree in runtime_trees():
        if tree in ("", "/") or not any(_under(tree, h) for h in hidden):
            continue
        if any(_under(tree, a) or _under(a, tree) for a in audit) or any(_under(tree, t) for t in layered):
            continue
        out.append(tree)
    return list(dict.fromkeys(out))


def inside(host_path: str | Path) -> str:
    """Where a file of the audit (CA bundle, preload) appears in the sandbox: in its private /run,
    never under the audit's state directory."""
    return f"{RUN_DIR}/{Path(host_path).name}"


def stage_spec(uid: int, skip: tuple[Path, ...], spec: BoxSpec, expose: dict[str, str], layer: bool) -> dict:
    """The keeper's part of a sandbox: what to bind where the sandbox user can reach it, and the
    writable layer. The stage is a tmpfs the keeper mounts on /tmp in its own mount namespace:
    a path every user can pass through, wherever the audit keeps its (private) state."""
    stage = [[p, p == str(spec.home)] for p in sources(spec, expose, str(Path.home()))]  # [path, writable]
    out = {"base": STAGE, "uid": uid, "stage": stage}
    if layer:
        out["layer"] = {"trees": software_trees(Path.home()), "skip": [str(p) for p in skip]}
    return out


def mount_args(spec: BoxSpec, *, files: dict[str, int], layer: dict | None, expose: dict[str, str],
               real_home: str, staged: dict[str, str]) -> list[str]:
    """bubblewrap's mount options, in an order where deeper paths come later (a pure function).
    files: inside path -> descriptor whose content becomes that read-only file; staged: host path
    -> where the sandbox user can reach it (see keeper.py)."""
    src = lambda p: staged.get(p, p)  # noqa: E731
    ops: list[tuple[str, list[str]]] = [("/dev", ["--dev", "/dev"]), ("/proc", ["--proc", "/proc"]),
                                        ("/sys", ["--ro-bind", "/sys", "/sys"])]
    ops += [(h, ["--tmpfs", h]) for h in _hidden(spec, real_home)]
    for tree, overlay in (layer or {}).get("trees", {}).items():
        ops.append((tree, ["--bind", overlay, tree]))
    ops.append((spec.home_inside, ["--bind", src(str(spec.home)), spec.home_inside]))
    ops += [(dest, ["--ro-bind-data", str(fd), dest]) for dest, fd in files.items()]
    ops += [(expose.get(p, p), ["--ro-bind", src(p), expose.get(p, p)]) for p in sources(spec, expose, real_home)[1:]]
    # The audit's own paths are covered wherever they would be visible: on the host's tree, or
    # inside something bound in (a run directory inside the scenario's folder).
    by_depth = sorted(ops, key=lambda op: op[0].rstrip("/").count("/"))
    for path in map(str, spec.hide):
        covering = [op for op in by_depth if _under(path, op[0])]
        if not covering or covering[-1][1][0] != "--tmpfs":
            ops.append((path, ["--tmpfs", path]))
    root = ["--bind", layer["root"], "/"] if layer else ["--ro-bind", "/", "/"]
    return root + [a for _, args in sorted(ops, key=lambda op: op[0].rstrip("/").count("/")) for a in args]


def _host_children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fo:
            return [int(x) for x in fo.read().split()]
    except OSError:
        return []


def _ns_pid(pid: int) -> list[int]:
    """A process's PID in each PID namespace it belongs to, outermost first (NSpid)."""
    try:
        with open(f"/proc/{pid}/status") as fo:
            for line in fo:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except (OSError, ValueError):
        pass
    return []


class AgentProcess:
    """A step started by the agent, with the part of subprocess.Popen's interface the runner uses."""

    def __init__(self, box: "Box", step_id: int, args, pid: int | None, stdout, stderr):
        self.box, self.id, self.args, self.pid = box, step_id, args, pid
        self.stdout, self.stderr = stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.box.pump(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.box.pump(left if left is not None else 1.0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.pid and self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Box:
    def __init__(self, spec: BoxSpec, run_dir: Path, *, files: dict[str, str], uid: int,
                 keeper_info: dict | None, expose: dict[str, str], enter: list[str] = (), wrap: list[str] = ()):
        """files: inside path -> content of a planted read-only file (hostname, machine-id, …);
        expose: host path -> inside path of audit files the program reads (see inside());
        keeper_info: what the keeper staged (None: no keeper, the paths are used as they are)."""
        self.spec, self.run_dir, self.uid = spec, run_dir, uid
        passwd, group = isolation.accounts(spec.username, spec.full_name, spec.home_inside, INSIDE_UID)
        # Files of the audit (the CA bundle) are copied in like the planted ones: a copy cannot be
        # changed under a running program, and needs no path the sandbox user can reach.
        copied = {dest: Path(host).read_text(encoding="utf-8", errors="replace")
                  for host, dest in expose.items() if os.path.isfile(host)}
        self.files = {**copied, **files, "/etc/passwd": passwd, "/etc/group": group}
        info = keeper_info or {}
        self.python = os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)
        self._fds = {inside: self._memfd(text) for inside, text in self.files.items()}
        args = mount_args(spec, files=self._fds, layer=info.get("layer"), expose=expose,
                          real_home=str(Path.home()), staged=info.get("stage", {}))
        flags = ["--unshare-user", "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID), "--unshare-pid",
                 "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", spec.hostname,
                 "--disable-userns", "--die-with-parent", "--new-session", "--clearenv",
                 "--chdir", spec.home_inside]
        drop = []
        if os.geteuid() == 0:  # never root inside: bubblewrap maps the sandbox user to this uid
            drop = [shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--no-new-privs", "--"]
            self._chown(spec.home, uid)
        self.argv = [*wrap, *enter, *drop, isolation.bwrap() or "bwrap", *flags, *args, "--",
                     self.python, "-I", "-S", "-c", Path(agent.__file__).read_text(encoding="utf-8")]
        self.proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._next = 0
        self._events: dict = {}
        self._steps: dict[int, AgentProcess] = {}
        self.dead = ""
        self.init_pid = self.agent_pid = 0
        self.pidns = ""

    @staticmethod
    def _memfd(text: str) -> int:
        """An unnamed file holding text; bubblewrap copies it into the sandbox (--ro-bind-data)."""
        with tempfile.TemporaryFile() as fo:
            fo.write(text.encode())
            fo.flush()
            fo.seek(0)
            return os.dup(fo.fileno())

    @staticmethod
    def _chown(top: Path, uid: int) -> None:
        os.chown(top, uid, uid)
        os.chmod(top, 0o700)
        for d, dirs, names in os.walk(top):
            for n in dirs + names:
                os.chown(os.path.join(d, n), uid, uid, follow_symlinks=False)

    # ---- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = mine
        self._log = open(self.run_dir / "sandbox.log", "ab")
        try:
            self.proc = subprocess.Popen([*self.argv, str(theirs.fileno())], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         pass_fds=[theirs.fileno(), *self._fds.values()],
                                         start_new_session=True, cwd="/")
        finally:
            theirs.close()
            for fd in self._fds.values():
                os.close(fd)
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while "ready" not in self._events and not self.dead and time.monotonic() < deadline:
            self.pump(0.1)
        if "ready" not in self._events:
            self.stop()
            raise CaptureError("the sandbox (bubblewrap) did not start: "
                               + (self.dead or "no answer within 15 s") + self._log_tail())
        self._find_pids()

    def _drain(self) -> None:
        """bubblewrap's messages into sandbox.log. Reads the raw descriptor: whoever still holds the
        pipe (a process of the sandbox) can never make stop() wait for this thread."""
        fd, kept = self.proc.stderr.fileno(), 0
        while not self._closing.is_set():
            if not select.select([fd], [], [], 0.2)[0]:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            if kept < LOG_LIMIT:
                self._log.write(b"".join(b"bwrap: " + line + b"\n" for line in chunk.splitlines()))
                self._log.flush()
                kept += len(chunk)

    def _log_tail(self) -> str:
        try:
            text = (self.run_dir / "sandbox.log").read_text(errors="replace").strip()
        except OSError:
            return ""
        return ":\n" + text[-800:] if text else ""

    def _find_pids(self) -> None:
        """Host PIDs of the sandbox's init (PID 1 inside) and the agent (PID 2), and the PID namespace."""
        todo, seen = [self.proc.pid], set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (self.init_pid and self.agent_pid):
            for pid in list(todo):
                for child in _host_children(pid):
                    if child not in seen:
                        seen.add(child)
                        todo.append(child)
                ns = _ns_pid(pid)
                if len(ns) >= 2 and ns[-1] == 1:
                    self.init_pid = pid
                elif len(ns) >= 2 and ns[-1] == 2:
                    self.agent_pid = pid
            if not (self.init_pid and self.agent_pid):
                time.sleep(0.01)
        if not (self.init_pid and self.agent_pid):
            raise CaptureError("the sandbox started but its processes could not be found")
        self.pidns = os.readlink(f"/proc/{self.init_pid}/ns/pid")

    def pump(self, timeout: float) -> None:
        """Read the agent's messages for up to timeout seconds (returns at the first one)."""
        if self._sock is None or self.dead:
            if timeout:
                time.sleep(min(timeout, 0.05))
            return
        if not select.select([self._sock], [], [], max(0.0, timeout))[0]:
            return
        try:
            data = self._sock.recv(1 << 20)
        except OSError:
            data = b""
        if not data:
            self.dead = "the sandbox agent ended unexpectedly (killed from inside the sandbox?)"
            for p in self._steps.values():
                if p.returncode is None:
                    p.returncode = -signal.SIGKILL
            return
        msg = json.loads(data)
        if msg.get("op") == "ready":
            self._events["ready"] = msg
        elif msg.get("op") in ("started", "error"):
            self._events[msg.get("id")] = msg
        elif msg.get("op") == "exit" and msg.get("id") in self._steps:
            self._steps[msg["id"]].returncode = msg["status"]

    def check(self) -> None:
        if self.dead:
            raise CaptureError(self.dead + "; the run's processes were ended with it")

    def spawn(self, argv, cwd, env, stdin=None, stdout=None, stderr=None, **_) -> AgentProcess:
        """Start a step in the sandbox; stdin/stdout/stderr as for subprocess.Popen (DEVNULL, PIPE or fds)."""
        self.check()
        self._next += 1
        step_id, opened, keep = self._next, [], {}

        def fd_for(spec, name: str) -> int:
            if spec == subprocess.PIPE and name != "stdin":
                r, w = os.pipe()
                keep[name] = os.fdopen(r, "rb")
                opened.append(w)
                return w
            if spec is None or spec == subprocess.DEVNULL:
                opened.append(os.open(os.devnull, os.O_RDWR))
                return opened[-1]
            if isinstance(spec, int) or hasattr(spec, "fileno"):
                return spec if isinstance(spec, int) else spec.fileno()
            raise ValueError(f"{name}: unsupported for a sandboxed step: {spec!r}")

        try:
            fds = [fd_for(stdin, "stdin"), fd_for(stdout, "stdout")]
            fds.append(fds[1] if stderr == subprocess.STDOUT else fd_for(stderr, "stderr"))
            msg = {"op": "spawn", "id": step_id, "argv": list(argv), "env": dict(env), "cwd": str(cwd),
                   "tty": os.isatty(fds[0])}
            socket.send_fds(self._sock, [json.dumps(msg).encode()], fds)
        finally:
            for fd in opened:
                os.close(fd)
        deadline = time.monotonic() + READY_TIMEOUT
        while step_id not in self._events and not self.dead and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        reply = self._events.pop(step_id, None)
        if reply is None or reply["op"] != "started":
            for f in keep.values():
                f.close()
            raise CaptureError("the sandbox could not start the step: "
                               + (reply or {}).get("error", self.dead or "no answer from the sandbox agent"))
        host = next((c for c in _host_children(self.agent_pid) if (_ns_pid(c) or [0])[-1] == reply["pid"]), None)
        proc = AgentProcess(self, step_id, list(argv), host, keep.get("stdout"), keep.get("stderr"))
        self._steps[step_id] = proc
        return proc

    def _reap_init(self) -> None:
        """bubblewrap may exit before its init has: the init is then re-parented to us (the audit is a
        child subreaper) and must be reaped here, or it stays a zombie until the audit ends."""
        deadline = time.monotonic() + 2
        while self.init_pid and time.monotonic() < deadline:
            try:
                if os.waitpid(self.init_pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:  # not ours (bubblewrap has exited, so it was re-parented elsewhere)
                return
            time.sleep(0.02)

    def stop(self) -> list[str]:
        problems = []
        if self._sock is not None:
            try:
                self._sock.send(json.dumps({"op": "exit"}).encode())
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                problems.append("the sandbox did not end when asked; killed")
            # SIGKILL to the namespace's init ends every process in it (and wakes a waiting tracer).
            for pid in (self.init_pid, self.agent_pid):
                try:
                    if pid and os.readlink(f"/proc/{pid}/ns/pid") == self.pidns:  # not a reused PID
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self._closing.set()
            self._reader.join(2)
            if not self._reader.is_alive():
                self.proc.stderr.close()
                self._log.close()
            self._reap_init()
        return problems


def open_box(spec: BoxSpec, run_dir: Path, state_dir: Path, work: Path, *, files: dict[str, str],
             expose: dict[str, str], wrap: list[str] = ()) -> tuple:
    """A started sandbox sharing the host's network (proxy capture); with root, a keeper stages its
    sources and builds its writable layer in a mount namespace of its own (work: its files)."""
    from .keeper import Keeper

    uid = host_uid()
    keeper = None
    if os.geteuid() == 0:
        work.mkdir(parents=True, exist_ok=True)
        kspec = {"net": False, "remove": str(work), "state": str(state_dir),
                 **stage_spec(uid, (state_dir, work), spec, expose, layer=True)}
        with open(run_dir / "sandbox.log", "ab") as log:
            keeper = Keeper(kspec, log, ("mnt",))
    b = Box(spec, run_dir, files=files, uid=uid, keeper_info=keeper.info if keeper else None, expose=expose,
            enter=keeper.nsenter("mnt") if keeper else [], wrap=wrap)
    try:
        b.start()
    except BaseException:
        b.stop()
        if keeper:
            keeper.stop()
        raise
    if keeper:
        keeper.watch(b.proc.pid, b.init_pid)
    return b, keeper
