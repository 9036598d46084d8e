"""Explicit-proxy capture: mitmdump on loopback, clients told through proxy and CA variables.

Sees only clients that honour the variables. Programs that connect directly are neither captured
nor blocked here; a syscall witness (strace, see witness.py) at least reports their attempts as
SEC-006, and the report says the coverage is partial (full capture is the `tun` backend).
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import node_preload
from . import SessionInfo, witness
from .mitm import CA_VARIABLES, MitmProcess, ca_bundle

COVERAGE_NOTE = ("partial capture (explicit proxy): only clients that honour proxy variables were "
                 "captured; direct connections (programs ignoring HTTPS_PROXY, DNS lookups, UDP) were "
                 "neither recorded nor blocked")
WITNESS_NOTE = ("; a syscall witness (strace) listed each direct connection and DNS lookup as SEC-006, "
                "with its destination but without its content")


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
        self.proxy_addr = (host, port)
        self.witness_log = run_dir / witness.LOG_NAME
        missing = witness.unavailable()
        note = COVERAGE_NOTE + (f"; direct connections were not even detected: {missing}" if missing
                                else WITNESS_NOTE)
        self.info = SessionInfo(mode="proxy", env=env, ca_env=ca_names, coverage=("http",),
                                coverage_note=note, pids=(self.mitm.proc.pid,),
                                prefix=[] if missing else witness.prefix(self.witness_log))

    def check(self) -> None:
        self.mitm.check()

    def stop(self) -> list[str]:
        problems = self.mitm.stop()
        # mitmdump has exited, so nothing else writes events.jsonl now; the strace log stays as
        # the ground truth these events are derived from.
        found = witness.events(self.witness_log, self.proxy_addr) if self.info.prefix else []
        if found:
            try:
                with open(self.mitm.run_dir / "events.jsonl", "a", encoding="utf-8") as fo:
                    fo.writelines(json.dumps(e) + "\n" for e in found)
            except OSError as e:
                problems.append(f"could not record the direct connections the witness saw: {e}")
        return problems


class ProxyBackend:
    name = "proxy"

    def start(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool,
              identity=None) -> ProxySession:
        # identity is for backends that can plant it (tun); a proxy cannot hide the host's values.
        return ProxySession(run_dir, allow, state_dir, untrusted_ca)
