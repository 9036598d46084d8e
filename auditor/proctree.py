"""Find and end every process a run started, including detached ones.

A contained run (see sandbox/box.py) has a PID namespace of its own: its processes are exactly
the members of that namespace, which no process can leave, whatever it does to its parents or
environment. For uncontained runs, the runner becomes a child subreaper, so a telemetry sender that double-forks to escape its parent
is re-parented to us instead of to init and can still be found and ended. Processes are tied to
their run by the run's step PIDs and by a marker variable in their environment (which survives
re-parenting, but not a program that scrubs its environment: those are matched by ancestry).
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

MARKER = "EGRESS_AUDIT_RUN"
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fo:
                stat = fo.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: the ppid follows the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) >= 2:
            out[int(entry.name)] = int(fields[1])
    return out


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fo:
            return marker in fo.read().split(b"\0")
    except OSError:
        return False


def marked(fragment: bytes) -> set[int]:
    """PIDs whose run marker contains fragment (any process of this machine)."""
    prefix = f"{MARKER}=".encode()
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fo:
                env = fo.read().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(prefix) and fragment in v for v in env):
            found.add(int(entry.name))
    return found - {os.getpid()}


def descendants(roots: set[int], parents: dict[int, int] | None = None) -> set[int]:
    parents = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        for c in children.get(pid, ()):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def in_namespace(ns: str, kind: str = "pid") -> set[int]:
    """Host PIDs of the members of a namespace (`pid:[inode]`, as /proc/PID/ns/KIND reads)."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.readlink(f"/proc/{entry.name}/ns/{kind}") == ns:
                    found.add(int(entry.name))
            except OSError:
                pass
    return found


def run_processes(run_id: str, roots: set[int], exclude: set[int], pidns: str = "") -> set[int]:
    """Live processes of one run: the members of its PID namespace (contained runs, less the
    sandbox's own init and agent in exclude), else descendants of its steps and our descendants
    carrying its marker."""
    if pidns:  # zombies are dead already; the namespace's init reaps them
        return {p for p in in_namespace(pidns) - exclude - {os.getpid()} if not _is_zombie(p)}
    parents = _parents()
    mine = descendants({os.getpid()}, parents)
    excluded = exclude | descendants(exclude, parents)
    marker = f"{MARKER}={run_id}".encode()
    found = {p for p in roots if p in parents} | descendants(roots, parents)
    found |= {p for p in mine if _has_marker(p, marker)}
    found |= descendants(found, parents)
    return (found & (mine | roots)) - excluded - {os.getpid()}


def reap(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        except OSError:
            pass


def terminate(targets, grace: float, last: float = 2.0, reap_them: bool = False) -> set[int]:
    """SIGTERM the processes `targets()` names, SIGKILL those still named after `grace`, wait up to
    `last` more; return every pid named on the way. reap_them: they are our children."""
    seen: set[int] = set()
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, last)):
        pids = targets()
        seen |= pids
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if reap_them:
                reap(pids)
            pids = targets()
            seen |= pids
            if not pids:
                return seen
            time.sleep(0.05)
    if reap_them:
        reap(seen)
    return seen


def kill(run_id: str, roots: set[int], exclude: set[int], grace: float = 2.0, pidns: str = "") -> int:
    """SIGTERM the run's processes, SIGKILL what is left after `grace`; return how many there were."""
    return len(terminate(lambda: run_processes(run_id, roots, exclude, pidns), grace, reap_them=True))


def wait_quiet(run_id: str, roots: set[int], exclude: set[int], timeout: float, pidns: str = "") -> bool:
    """Wait until the run has no live process (detached senders finished); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = run_processes(run_id, roots, exclude, pidns)
        reap(procs)
        if not {p for p in procs if not _is_zombie(p)}:
            return True
        time.sleep(0.1)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fo:
            stat = fo.read()
        return stat[stat.rfind(b")") + 2:][:1] == b"Z"
    except OSError:
        return True
