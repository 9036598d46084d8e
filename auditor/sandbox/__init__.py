"""Capture backends behind one small interface.

A backend starts a capture session for one run directory and hands the runner what the software
under test needs: extra environment (proxy and CA variables), how to start a step (in the run's
sandbox, see box.py, or with a command prefix when the machine cannot contain it), and a statement
of what this kind of capture can and cannot see and how well the program was contained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from .box import BoxSpec
from .isolation import Isolation


@dataclass
class SessionInfo:
    mode: str  # proxy | tun
    env: dict[str, str]  # variables for the SUT (CA always; proxy variables in proxy mode)
    ca_env: tuple[str, ...]  # names in env that make clients trust the audit CA
    coverage: tuple[str, ...]  # protocols captured: http, tcp, udp, dns
    coverage_note: str  # what this capture cannot see, for the report
    prefix: list[str] = field(default_factory=list)  # argv prefix that runs a command inside the sandbox
    pids: tuple[int, ...] = ()  # processes of the backend itself (never killed as SUT descendants)
    # Identity keys the program really sees as planted (a machine twin is an intervention only where
    # the machine's own values can be changed): e.g. ("hostname", "machine_id").
    planted: tuple[str, ...] = ()
    # Contained runs: starts a step in the run's sandbox (subprocess.Popen's signature); the
    # sandbox's PID namespace holds every process of the run.
    launch: Callable | None = None
    pidns: str = ""
    isolation: Isolation | None = None
    manifest: dict = field(default_factory=dict)  # extra run.json keys of this backend


class Session(Protocol):
    info: SessionInfo

    def check(self) -> None:
        """Raise CaptureError if the capture died (the run is then incomplete)."""

    def stop(self) -> list[str]:
        """Tear everything down; return problems (empty when the capture ended cleanly)."""


class Backend(Protocol):
    name: str

    def start(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool,
              identity=None, box: BoxSpec | None = None) -> Session:
        """Start capturing into run_dir. identity: the canary values a backend can plant
        (hostname, machine-id, MAC) where it isolates the program. box: run the steps in a
        sandbox (None: uncontained, see isolation.py)."""


def get_backend(name: str) -> Backend:
    from . import proxy

    if name == "proxy":
        return proxy.ProxyBackend()
    if name == "tun":
        from . import tun

        return tun.TunBackend()
    raise ValueError(name)


def select_mode(requested: str) -> tuple[str, str]:
    """The capture mode to use and why; `auto` prefers full capture where it works here."""
    from ..errors import CaptureError, UsageError

    if requested not in ("auto", "tun", "proxy"):
        raise UsageError(f"--capture {requested}: expected auto, tun or proxy")
    if requested == "proxy":
        return "proxy", "requested"
    try:
        from . import tun
    except ImportError:
        tun = None
    problem = tun.unavailable() if tun else "the tun backend is not installed"
    if not problem:
        return "tun", "full capture available" if requested == "auto" else "requested"
    if requested == "tun":
        raise CaptureError(f"--capture tun is not possible here: {problem} (see `egress-audit doctor`)")
    return "proxy", f"full capture unavailable: {problem}"


def doctor_report() -> list[tuple[str, bool, str]]:
    """(check, ok, detail) rows for `egress-audit doctor`."""
    import shutil

    from .mitm import mitmdump_path, system_trust_store

    rows = []
    try:
        rows.append(("mitmdump", True, mitmdump_path()))
    except Exception as e:
        rows.append(("mitmdump", False, str(e)))
    trust = system_trust_store()
    rows.append(("system trust store", bool(trust), trust or "none found: forwarded hosts cannot be verified"))
    rows.append(("optional: git", bool(shutil.which("git")),
                 shutil.which("git") or "not found: the canary project is not a git repo"))
    try:
        from . import tun

        rows += tun.doctor_rows()
    except ImportError:
        rows.append(("optional: full capture (tun)", False, "not available in this version"))
    mode, why = select_mode("auto")
    rows.append(("capture auto", True, f"will use {mode} ({why})"))
    from .isolation import doctor_row

    rows.append(doctor_row())
    return rows
