"""Explicit-proxy capture: mitmdump on loopback, clients told through proxy and CA variables.

Sees only clients that honour the variables. Programs that connect directly are neither captured
nor blocked here; the report says so (full capture is the `tun` backend).
"""

from __future__ import annotations

from pathlib import Path

from .. import node_preload
from . import SessionInfo
from .mitm import CA_VARIABLES, MitmProcess, ca_bundle

COVERAGE_NOTE = ("explicit proxy: only clients that honour proxy variables were captured; direct "
                 "connections (programs ignoring HTTPS_PROXY, DNS lookups, UDP) were neither "
                 "recorded nor blocked")


class ProxySession:
    def __init__(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool):
        confdir = state_dir / "ca"  # one CA per audit: the state dir is shared by its runs
        self.mitm = MitmProcess(run_dir, "regular@127.0.0.1:0", confdir, allow, state_dir)
        self.mitm.start()
        host, port = self.mitm.listen[0]
        url = f"http://{host}:{port}"
        env = {}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                     "all_proxy", "npm_config_proxy", "npm_config_https_proxy",
                     "GLOBAL_AGENT_HTTP_PROXY", "GLOBAL_AGENT_HTTPS_PROXY"):
            env[name] = url
        env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1,::1"
        ca_names: tuple[str, ...] = ()
        if not untrusted_ca:
            bundle = ca_bundle(confdir, state_dir / "ca-bundle.pem")
            env.update({name: str(bundle) for name in CA_VARIABLES})
            ca_names = CA_VARIABLES
        env.update(node_preload.env(state_dir))
        self.info = SessionInfo(mode="proxy", env=env, ca_env=ca_names, coverage=("http",),
                                coverage_note=COVERAGE_NOTE, pids=(self.mitm.proc.pid,))

    def check(self) -> None:
        self.mitm.check()

    def stop(self) -> list[str]:
        return self.mitm.stop()


class ProxyBackend:
    name = "proxy"

    def start(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool) -> ProxySession:
        return ProxySession(run_dir, allow, state_dir, untrusted_ca)
