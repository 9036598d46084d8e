"""How well this machine can contain the program under test, and how a run says so.

`contained`: every run executes in a bubblewrap sandbox (box.py) — unprivileged user, own user,
PID, mount, IPC and UTS namespaces, host read-only under a private writable layer, private /tmp,
/run and HOME, no view of the audit's state. `uncontained`: the program runs without it (no
bubblewrap, no user namespaces, or switched off with EGRESS_AUDIT_SANDBOX=off); the run still
captures, but its coverage statement, `doctor` and the verdict say "uncontained".
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

SWITCH = "EGRESS_AUDIT_SANDBOX"  # "off": run uncontained on purpose (reported as such)
PACKAGE = "bubblewrap"
CONTAINED_NOTE = (
    "contained: the program ran as an unprivileged user in its own user, PID, mount, IPC and UTS "
    "namespaces (bubblewrap); {files}; /tmp, /run, /dev and HOME were private; the audit's processes, "
    "state, CA key and capture files were out of its sight, and every process it started ended with "
    "the run")
LAYER = "the host's files were read-only below a private writable layer that vanished with the run"
NO_LAYER = ("the host's files were read-only and there was no writable layer ({why}): installs outside "
            "HOME failed instead of landing in the sandbox")
UNCONTAINED_NOTE = (
    "uncontained: the program ran without a sandbox ({why}): it could read and change the host's "
    "files, see the audit's processes and capture files, and run on after the audit; {fix}")


@dataclass(frozen=True)
class Isolation:
    level: str  # contained | uncontained
    detail: str  # what the sandbox held, or why there was none
    fix: str = ""

    def to_json(self) -> dict:
        return {"level": self.level, "detail": self.detail, "fix": self.fix}

    @property
    def contained(self) -> bool:
        return self.level == "contained"


def _apt(pkg: str) -> str:
    return f"apt-get install --no-install-recommends {pkg}"


@functools.lru_cache(maxsize=1)
def bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[str, str] | None:
    """(why not, how to fix) after a real attempt to start an empty sandbox, or None when it works."""
    if sys.platform != "linux":
        return "the sandbox needs Linux namespaces", "run the audit on Linux"
    path = bwrap()
    if not path:
        return "bubblewrap (bwrap) is not installed", _apt(PACKAGE)
    argv = [path, "--unshare-user", "--unshare-pid", "--as-pid-1", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            return "setpriv is not installed (it drops root before the sandbox starts)", _apt("util-linux")
        argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", *argv]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap could not run: {e}", _apt(PACKAGE)
    if r.returncode:
        err = (r.stderr.strip().splitlines() or ["?"])[-1]
        return (f"bubblewrap cannot create user namespaces here ({err})",
                "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
                "user.max_user_namespaces > 0; in a container, run it with --security-opt "
                "seccomp=unconfined or a profile that allows clone(CLONE_NEWUSER))")
    return None


def problem() -> str | None:
    """Why runs cannot be contained here, or None when they can."""
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "no", "false"):
        return f"switched off with {SWITCH}=off"
    found = _probe()
    return found[0] if found else None


def current() -> Isolation:
    """What a run started now will get (before any run-time detail such as the writable layer)."""
    why = problem()
    if why is None:
        return Isolation("contained", CONTAINED_NOTE.format(files=LAYER))
    fix = (f"unset {SWITCH}" if why.startswith("switched off") else (_probe() or ("", ""))[1])
    return Isolation("uncontained", UNCONTAINED_NOTE.format(why=why, fix=f"fix: {fix}"), fix)


def contained_statement(keeper_info: dict | None) -> Isolation:
    """The statement for a contained run, given what the keeper managed to build."""
    info = keeper_info or {}
    if info.get("layer"):
        notes = info["layer"].get("notes") or []
        files = LAYER + "".join(f"; {n}" for n in notes)
    else:
        files = NO_LAYER.format(why=info.get("layer_problem") or "building it needs root")
    return Isolation("contained", CONTAINED_NOTE.format(files=files))


def doctor_row() -> tuple[str, bool, str]:
    iso = current()
    if iso.contained:
        return "isolation", True, f"contained ({bwrap()}): each run in its own sandbox"
    return "isolation", False, iso.detail


def accounts(username: str, full_name: str, home: str, uid: int = 1000) -> tuple[str, str]:
    """/etc/passwd and /etc/group for the sandbox: the host's, with the canary user as `uid`
    (so `whoami`, `getpass.getuser()` and `~user` give the canary, never a host account)."""
    def read(path: str) -> list[str]:
        try:
            with open(path, encoding="utf-8", errors="replace") as fo:
                return fo.read().splitlines()
        except OSError:
            return []

    def keep(line: str) -> bool:
        fields = line.split(":")
        return len(fields) >= 3 and fields[0] != username and fields[2] != str(uid)

    gecos = full_name.replace(":", " ").replace("\n", " ")
    passwd = [*filter(keep, read("/etc/passwd")), f"{username}:x:{uid}:{uid}:{gecos}:{home}:/bin/bash"]
    group = [*filter(keep, read("/etc/group")), f"{username}:x:{uid}:"]
    return "\n".join(passwd) + "\n", "\n".join(group) + "\n"
