"""The agent inside the sandbox: starts each step of a run and reports how it ended.

It runs as the sandbox's first process after bubblewrap's init (PID 2 of the run's PID namespace)
for the whole run, so the steps of one run share one PID namespace and a background process
started by one step keeps running through the next ones. When the agent exits, init exits, and
the kernel kills every process left in the namespace: nothing of a run can outlive it.

Started as `python -I -S -c <this file's text> FD` with the control socket as descriptor FD (a
SOCK_SEQPACKET socketpair whose other end the audit holds). Only the standard library: the sandbox may not see
the audit's environment. Messages are JSON; the step's stdin, stdout and stderr come with the
spawn request as SCM_RIGHTS descriptors (pipes or a pseudo-terminal created by the audit).

    audit -> agent  {"op": "spawn", "id": N, "argv": [...], "env": {...}, "cwd": "...", "tty": bool} + 3 fds
                    {"op": "exit"}
    agent -> audit  {"op": "ready", "pid": P}   {"op": "started", "id": N, "pid": P}
                    {"op": "exit", "id": N, "status": S}   (S as subprocess.Popen.returncode)
                    {"op": "error", "id": N, "error": "..."}
"""

import ctypes
import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys
import termios

MAX_MESSAGE = 1 << 20
PR_SET_DUMPABLE = 4


def main(control_fd: int) -> int:
    # Not dumpable: the program under test runs as the same user and could otherwise ptrace this
    # process or open /proc/2/fd/3 and speak for the audit on the control socket.
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    for fd in map(int, os.listdir("/proc/self/fd")):  # only stdio and the control socket
        if fd > 2 and fd != control_fd:
            try:
                os.close(fd)
            except OSError:
                pass
    sock = socket.socket(fileno=control_fd)
    os.set_inheritable(control_fd, False)
    # SIGCHLD wakes the loop through this pipe (no pidfd: the interpreter may lack os.pidfd_open).
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    children: dict[int, subprocess.Popen] = {}  # step id -> process

    def send(**msg) -> None:
        sock.send(json.dumps(msg).encode())

    send(op="ready", pid=os.getpid())
    while True:
        readable, _, _ = select.select([sock, wake_r], [], [], 1.0)
        if wake_r in readable:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
        for step_id, proc in list(children.items()):
            if proc.poll() is not None:
                del children[step_id]
                send(op="exit", id=step_id, status=proc.returncode)
        if sock not in readable:
            continue
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 3)
        if not data:
            return 0  # the audit closed its end: the run is over
        msg = json.loads(data)
        try:
            if msg["op"] == "exit":
                return 0
            if msg["op"] == "spawn":
                children[msg["id"]] = proc = _spawn(msg, fds)
                send(op="started", id=msg["id"], pid=proc.pid)
        except Exception as e:  # noqa: BLE001 - reported to the audit, which decides
            send(op="error", id=msg.get("id"), error=f"{type(e).__name__}: {e}")
        finally:
            for f in fds:
                os.close(f)


def _spawn(msg: dict, fds: list[int]) -> subprocess.Popen:
    stdin, stdout, stderr = fds

    def controlling_tty() -> None:  # after setsid (start_new_session): the step's own terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    return subprocess.Popen(msg["argv"], stdin=stdin, stdout=stdout, stderr=stderr, cwd=msg["cwd"],
                            env=msg["env"], start_new_session=True, close_fds=True,
                            preexec_fn=controlling_tty if msg.get("tty") else None)


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1])))
