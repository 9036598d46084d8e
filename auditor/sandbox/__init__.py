"""Capture backends behind one small interface.

A backend starts a capture session for one run directory and hands the runner what the software
under test needs: extra environment (proxy and CA variables), a command wrapper (namespaces), and
a statement of what this kind of capture can and cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class SessionInfo:
    mode: str  # proxy | tun
    env: dict[str, str]  # variables for the SUT (CA always; proxy variables in proxy mode)
    ca_env: tuple[str, ...]  # names in env that make clients trust the audit CA
    coverage: tuple[str, ...]  # protocols captured: http, tcp, udp, dns
    coverage_note: str  # what this capture cannot see, for the report
    prefix: list[str] = field(default_factory=list)  # argv prefix that runs a command inside the sandbox
    pids: tuple[int, ...] = ()  # processes of the backend itself (never killed as SUT descendants)


class Session(Protocol):
    info: SessionInfo

    def check(self) -> None:
        """Raise CaptureError if the capture died (the run is then incomplete)."""

    def stop(self) -> list[str]:
        """Tear everything down; return problems (empty when the capture ended cleanly)."""


class Backend(Protocol):
    name: str

    def start(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool) -> Session: ...


def get_backend(name: str) -> Backend:
    from . import proxy

    if name == "proxy":
        return proxy.ProxyBackend()
    if name == "tun":
        from . import tun

        return tun.TunBackend()
    raise ValueError(name)
