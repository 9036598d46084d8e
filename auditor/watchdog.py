"""Clean up after an audit that was killed outright (SIGKILL, OOM): its processes and state.

Started by the audit with a pipe on stdin whose only writer is the audit. The pipe reaches EOF
when the audit exits in any way; if the audit left anything behind (it could not run its own
cleanup), this ends the processes carrying the audit's run marker and removes its state directory
(which holds the audit CA's private key).

    python -m auditor.watchdog AUDIT_PID STATE_DIR
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .proctree import marked


def start(state_dir: Path) -> int:
    """Spawn the watchdog for this process; return the write end the audit must keep open."""
    read_end, write_end = os.pipe()
    subprocess.Popen([sys.executable, "-m", "auditor.watchdog", str(os.getpid()), str(state_dir)],
                     stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    os.close(read_end)
    return write_end


def orphans(audit_pid: int) -> set[int]:
    return marked(f"/{audit_pid}/".encode())


def main(argv: list[str]) -> None:
    audit_pid, state = int(argv[1]), Path(argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal Ctrl-C is the audit's to handle
    while sys.stdin.buffer.read(4096):
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = orphans(audit_pid)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if pids:
            time.sleep(1.0)
    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv)
