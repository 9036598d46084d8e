"""The mitmdump subprocess shared by every backend: start, wait until ready, watch, stop."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import auditor

from ..errors import CaptureError

READY_TIMEOUT = 30.0
# Clients must trust these so that TLS to the sinkhole and to forwarded hosts decrypts.
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
                "NODE_EXTRA_CA_CERTS", "npm_config_cafile", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE",
                "HTTPLIB2_CA_CERTS", "CARGO_HTTP_CAINFO", "DENO_CERT", "NIX_SSL_CERT_FILE",
                "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH")
# pipeline.execute links the audit's download cache here; every mitmdump of the audit then uses it.
CACHE_LINK = "download-cache"
ADDON_SHIM = ("from auditor.capture import Recorder\nfrom auditor.forward_cache import ForwardCache\n"
              "addons = [Recorder(), ForwardCache()]\n")
_SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                   "/etc/ssl/cert.pem", "/etc/ssl/ca-bundle.pem")


def system_trust_store() -> str | None:
    """The system CA bundle used to verify upstream TLS of forwarded hosts."""
    paths = ssl.get_default_verify_paths()
    for p in (paths.cafile, paths.openssl_cafile, *_SYSTEM_BUNDLES):
        if p and os.path.isfile(p):
            return p
    return None


def mitmdump_path() -> str:
    beside = Path(sys.executable).with_name("mitmdump")
    if beside.exists():
        return str(beside)
    found = shutil.which("mitmdump")
    if not found:
        raise CaptureError("mitmdump not found: install egress-auditor with its dependencies "
                           "(pip install -e .) into a Python >= 3.12 environment")
    return found


@functools.lru_cache(maxsize=1)
def setpriv() -> str | None:
    """util-linux setpriv, if it can set a parent-death signal."""
    path = shutil.which("setpriv")
    if not path:
        return None
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if "--pdeathsig" in r.stdout else None


def addon_path(state_dir: Path) -> str:
    shim = Path(auditor.__file__).resolve().parent.parent / "addons" / "egress_recorder.py"
    if shim.exists():
        return str(shim)
    # Installed without the repository: write the same three-line shim next to the audit state.
    generated = state_dir / "egress_recorder.py"
    generated.write_text(ADDON_SHIM)
    return str(generated)


def ca_bundle(confdir: Path, dest: Path) -> Path:
    """System CAs plus the audit CA, so clients that bypass the capture still work normally."""
    parts = []
    system = system_trust_store()
    if system:
        parts.append(Path(system).read_text(encoding="utf-8", errors="replace"))
    parts.append((confdir / "mitmproxy-ca-cert.pem").read_text(encoding="utf-8"))
    text = "\n".join(parts)
    try:
        if dest.read_text(encoding="utf-8") == text:
            return dest  # the same for every run of an audit: written once
    except OSError:
        pass
    # Parallel runs (--jobs) share the bundle while their programs read it: never rewrite in place.
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)
    return dest


class MitmProcess:
    def __init__(self, run_dir: Path, mode: str, confdir: Path, allow: tuple[str, ...],
                 state_dir: Path, extra: tuple[str, ...] = ()):
        self.run_dir = run_dir
        self.confdir = confdir
        self.log_path = run_dir / "mitmdump.log"
        argv = [mitmdump_path(), "--mode", mode, "-s", addon_path(state_dir),
                "--set", f"confdir={confdir}", "--set", "connection_strategy=lazy",
                "--set", f"egress_dir={run_dir}", "--set", "termlog_verbosity=warn",
                "--set", "flow_detail=0"]
        trust = system_trust_store()
        if trust:
            argv += ["--set", f"ssl_verify_upstream_trusted_ca={trust}"]
        for host in allow:
            argv += ["--set", f"egress_allow={host}"]
        if (state_dir / CACHE_LINK).is_dir():
            argv += ["--set", f"egress_cache={(state_dir / CACHE_LINK).resolve()}"]
        argv += list(extra)
        if setpriv():  # mitmdump ends with the audit even if the audit is killed (SIGKILL)
            argv[:0] = [setpriv(), "--pdeathsig", "TERM", "--"]
        self.argv = argv
        self.proc: subprocess.Popen | None = None
        self.listen: list[tuple[str, int]] = []

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        # Its own session: a Ctrl-C in the terminal must not kill it before it has flushed.
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            ready = self._ready_event()
            if ready is not None:
                self.listen = [tuple(a) for a in ready.get("listen", [])]
                return
            if self.proc.poll() is not None:
                raise CaptureError(f"mitmdump exited during start-up (code {self.proc.returncode}):\n"
                                   + self.log_tail())
            if "Addon error" in self.log_tail():  # the recorder failed to load: no point waiting
                self.stop()
                raise CaptureError("the egress recorder addon failed to load:\n" + self.log_tail())
            time.sleep(0.05)
        self.stop()
        raise CaptureError(f"mitmdump did not become ready within {READY_TIMEOUT:.0f} s:\n" + self.log_tail())

    def _ready_event(self) -> dict | None:
        try:
            with open(self.run_dir / "events.jsonl", encoding="utf-8") as fo:
                for line in fo:
                    if '"ready"' in line:
                        return json.loads(line)
        except (OSError, ValueError):
            pass
        return None

    def log_tail(self, n: int = 20) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise CaptureError(f"the capture process died (exit {self.proc.returncode}); "
                               "traffic after that point was not recorded:\n" + self.log_tail())

    def stop(self) -> list[str]:
        """SIGTERM (mitmdump flushes open flows in its done hook), then SIGKILL."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is not None:
            problems.append(f"capture process had died (exit {self.proc.returncode}) before the run ended")
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                problems.append("capture process did not stop on SIGTERM; killed (open streams may be lost)")
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return problems
