"""Explicit-proxy capture: mitmdump on loopback, clients told through proxy and CA variables.

Sees only clients that honour the variables. Programs that connect directly are neither captured
nor blocked here; a syscall witness (strace, see witness.py) at least reports their attempts as
SEC-006, and the report says the coverage is partial (full capture is the `tun` backend).
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

from .. import node_preload
from . import SessionInfo, isolation, witness
from .box import Box, BoxSpec, inside, open_box
from .keeper import Keeper
from .mitm import CA_VARIABLES, MitmProcess, ca_bundle

COVERAGE_NOTE = ("partial capture (explicit proxy): only clients that honour proxy variables were "
                 "captured; direct connections (programs ignoring HTTPS_PROXY, DNS lookups, UDP) were "
                 "neither recorded nor blocked")
WITNESS_NOTE = ("; a syscall witness (strace) listed each direct connection and DNS lookup as SEC-006, "
                "with its destination but without its content")


class ProxySession:
    def __init__(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool,
                 identity=None, box: BoxSpec | None = None):
        confdir = state_dir / "ca"  # one CA per audit: the state dir is shared by its runs
        # Created once, before parallel runs' mitmdumps would each write it while others read it.
        from .tun import _ensure_ca

        _ensure_ca(confdir)
        self.mitm = MitmProcess(run_dir, "regular@127.0.0.1:0", confdir, allow, state_dir)
        self.keeper: Keeper | None = None
        self.box: Box | None = None
        self.files = state_dir / "box" / secrets.token_hex(6)
        self.mitm.start()
        try:
            self._start(run_dir, state_dir, confdir, untrusted_ca, identity, box)
        except BaseException:
            self.stop()
            raise

    def _start(self, run_dir: Path, state_dir: Path, confdir: Path, untrusted_ca: bool, identity,
               spec: BoxSpec | None) -> None:
        host, port = self.mitm.listen[0]
        url = f"http://{host}:{port}"
        env = {}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                     "all_proxy", "npm_config_proxy", "npm_config_https_proxy",
                     "GLOBAL_AGENT_HTTP_PROXY", "GLOBAL_AGENT_HTTPS_PROXY"):
            env[name] = url
        env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1,::1"
        ca_names: tuple[str, ...] = ()
        expose: dict[str, str] = {}  # host path -> where a contained program finds it
        if not untrusted_ca:
            bundle = ca_bundle(confdir, state_dir / "ca-bundle.pem")
            expose[str(bundle)] = inside(bundle) if spec else str(bundle)
            env.update({name: expose[str(bundle)] for name in CA_VARIABLES})
            ca_names = CA_VARIABLES
        preload = node_preload.env(state_dir)
        if preload:
            script = preload["NODE_OPTIONS"].split(" ", 1)[1]
            expose[script] = inside(script) if spec else script
            expose[str(node_preload.modules_dir())] = str(node_preload.modules_dir())  # named in the script
            env["NODE_OPTIONS"] = f"--require {expose[script]}"
        self.proxy_addr = (host, port)
        self.witness_log = run_dir / witness.LOG_NAME
        missing = witness.unavailable()
        self.witnessed = not missing
        wrap = [] if missing else witness.prefix(self.witness_log)
        note = COVERAGE_NOTE + (f"; direct connections were not even detected: {missing}" if missing
                                else WITNESS_NOTE)
        prefix, launch, pidns, iso = wrap, None, "", isolation.current()
        pids = [self.mitm.proc.pid]
        if spec is not None:
            self.box = self._start_box(spec, run_dir, state_dir, identity, expose, wrap)
            pids += [self.box.proc.pid, self.box.init_pid, self.box.agent_pid]
            prefix, launch, pidns = [], self.box.spawn, self.box.pidns
            iso = isolation.contained_statement(self.keeper.info if self.keeper else None)
        note += "; " + iso.detail
        self.info = SessionInfo(mode="proxy", env=env, ca_env=ca_names, coverage=("http",),
                                coverage_note=note, pids=tuple(pids), prefix=prefix, launch=launch,
                                pidns=pidns, isolation=iso,
                                # the sandbox plants these even without a network namespace
                                planted=("hostname", "machine_id") if self.box is not None else ())

    def _start_box(self, spec: BoxSpec, run_dir: Path, state_dir: Path, identity, expose, wrap) -> Box:
        """The sandbox without a network namespace: the host's network, but not its files or processes."""
        hostname = spec.hostname
        machine_id = (getattr(identity, "machine_id", "") or secrets.token_hex(16)) + "\n"
        files = {"/etc/hostname": hostname + "\n", "/etc/machine-id": machine_id,
                 "/etc/hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"}
        if Path("/var/lib/dbus/machine-id").exists():
            files["/var/lib/dbus/machine-id"] = machine_id
        box, self.keeper = open_box(spec, run_dir, state_dir, self.files, files=files, expose=expose, wrap=wrap)
        return box

    def check(self) -> None:
        self.mitm.check()
        if self.box is not None:
            self.box.check()

    def stop(self) -> list[str]:
        problems = self.box.stop() if self.box is not None else []
        problems += self.mitm.stop()
        if self.keeper is not None:
            problems += self.keeper.stop()
        # mitmdump has exited, so nothing else writes events.jsonl now; the strace log stays as
        # the ground truth these events are derived from.
        found = witness.events(self.witness_log, self.proxy_addr) if getattr(self, "witnessed", False) else []
        if found:
            try:
                with open(self.mitm.run_dir / "events.jsonl", "a", encoding="utf-8") as fo:
                    fo.writelines(json.dumps(e) + "\n" for e in found)
            except OSError as e:
                problems.append(f"could not record the direct connections the witness saw: {e}")
        shutil.rmtree(self.files, ignore_errors=True)
        return problems


class ProxyBackend:
    name = "proxy"

    def start(self, run_dir: Path, allow: tuple[str, ...], state_dir: Path, untrusted_ca: bool,
              identity=None, box: BoxSpec | None = None) -> ProxySession:
        return ProxySession(run_dir, allow, state_dir, untrusted_ca, identity, box)
