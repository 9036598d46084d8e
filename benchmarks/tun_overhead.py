"""Overhead of full (tun) capture against running without capture.

    sudo .venv/bin/python benchmarks/tun_overhead.py [--rounds 5] [--posts 300] [--skip-download]

1. `pip download` of one ~15 MB wheel (numpy, no deps, no cache): directly, and inside a tun
   sandbox with pip's own index hosts allowed (read from pip's configuration at run time, as
   `@pip-index` is). Needs network access to the configured index.
2. A loop of small HTTPS POSTs: to a local HTTPS server on loopback without capture, and to the
   sinkhole through the explicit proxy (with its syscall witness) and through tun. Keep-alive and a
   new TLS connection per request. Nothing leaves the machine.

3. The run sandbox (bubblewrap, see docs/capture.md): capture session start-up and tear-down, and
   the cost of one trivial step (`true`), contained and uncontained, for both backends. `--only
   sandbox` runs just this part.

Prints medians over the rounds; sandbox start-up and tear-down are timed separately.
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.policy import pip_index_hosts  # noqa: E402
from auditor.sandbox import isolation, proxy, tun  # noqa: E402
from auditor.sandbox.box import BoxSpec  # noqa: E402

WHEEL = "numpy"
CLIENT = r'''
import http.client, os, ssl, sys, time
host, port, n, fresh = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "new"
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
proxy = os.environ.get("HTTPS_PROXY", "").rpartition("/")[2]
body = b'{"event": "bench", "n": %d}'

def connect():
    if proxy:
        c = http.client.HTTPSConnection(*proxy.split(":"), context=ctx, timeout=10)
        c.set_tunnel(host, port)
        return c
    return http.client.HTTPSConnection(host, port, context=ctx, timeout=10)

c = connect()
t0 = time.perf_counter()
for i in range(n):
    if fresh and i:
        c.close()
        c = connect()
    c.request("POST", "/collect", body=body % i, headers={"content-type": "application/json"})
    c.getresponse().read()
print(n / (time.perf_counter() - t0))
'''


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body in two writes wait ~40 ms for an ACK

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def local_https_server(workdir: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A loopback HTTPS server answering like the sinkhole: the no-capture baseline."""
    from cryptography.hazmat.primitives import serialization
    from mitmproxy import certs

    store = certs.CertStore.from_store(workdir / "ca", "bench", 2048)
    entry = store.get_cert("localhost", [])
    key = entry.privatekey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    (workdir / "server.pem").write_bytes(entry.cert.to_pem() + key)
    (workdir / "ca.pem").write_bytes(store.default_ca.to_pem())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(workdir / "server.pem")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, str(workdir / "ca.pem")


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"failed ({' '.join(argv[:6])}…): {r.stderr.strip()[-800:]}")
    return elapsed, r.stdout.strip()


class Sandbox:
    """A capture session of either backend, timed, used like the runner uses it."""

    def __init__(self, backend, workdir: Path, allow: tuple[str, ...], name: str):
        self.workdir = workdir / name
        self.state = self.workdir / "state"
        self.state.mkdir(parents=True)
        t0 = time.perf_counter()
        self.session = backend.start(self.workdir / "run", allow, self.state, False)
        self.start_s = time.perf_counter() - t0

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, **self.session.info.env}

    def prefix(self) -> list[str]:
        return list(self.session.info.prefix)

    def close(self) -> float:
        t0 = time.perf_counter()
        problems = self.session.stop()
        if problems:
            raise SystemExit(f"capture problems: {problems}")
        return time.perf_counter() - t0


def base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "HOME", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep or (k.startswith("PIP_") and k != "PIP_CERT")}
    return env


def pip_download(rounds: int, workdir: Path) -> None:
    allow = tuple(pip_index_hosts())
    if not allow:
        print("pip download: skipped (no pip index configured)")
        return
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
            "--disable-pip-version-check", "-q", WHEEL]
    direct, full, sizes, starts, stops = [], [], [], [], []
    for i in range(rounds):
        for label in ("direct", "tun"):
            dest = workdir / f"dl-{label}-{i}"
            dest.mkdir()
            if label == "direct":
                t, _ = timed([*argv, "-d", str(dest)], base_env(), workdir)
                direct.append(t)
            else:
                box = Sandbox(tun.TunBackend(), workdir, allow, f"pip-{i}")
                t, _ = timed([*box.prefix(), *argv, "-d", str(dest)], box.env(base_env()), workdir)
                stops.append(box.close())
                starts.append(box.start_s)
                full.append(t)
            sizes.append(sum(f.stat().st_size for f in dest.iterdir()))
            shutil.rmtree(dest)
    mb = statistics.median(sizes) / 1e6
    d, f = statistics.median(direct), statistics.median(full)
    print(f"pip download {WHEEL} ({mb:.1f} MB wheel, index from pip config), median of {rounds}:")
    print(f"  direct            {d:6.2f} s   {mb / d:6.1f} MB/s")
    print(f"  tun               {f:6.2f} s   {mb / f:6.1f} MB/s   (+{(f / d - 1) * 100:.0f} %)")
    print(f"  tun sandbox start {statistics.median(starts):6.2f} s, stop {statistics.median(stops):.2f} s "
          "(once per run, not per step)")


def posts(rounds: int, n: int, workdir: Path) -> None:
    server, ca = local_https_server(workdir)
    client = workdir / "client.py"
    client.write_text(CLIENT)
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        boxes = {"proxy": Sandbox(proxy.ProxyBackend(), workdir, (), f"proxy-{len(rates)}-{time.monotonic_ns()}"),
                 "tun": Sandbox(tun.TunBackend(), workdir, (), f"tun-{len(rates)}-{time.monotonic_ns()}")}
        try:
            for conn in ("keep-alive", "new"):
                mode = "new" if conn == "new" else "keep"
                _, out = timed([sys.executable, str(client), "localhost", str(server.server_address[1]), str(n),
                                mode], {**base_env(), "SSL_CERT_FILE": ca}, workdir)
                rates.setdefault(("direct (loopback server)", conn), []).append(float(out))
                for name, box in boxes.items():
                    env = box.env(base_env())
                    _, out = timed([*box.prefix(), sys.executable, str(client), "bench.example", "443", str(n),
                                    mode], env, workdir)
                    rates.setdefault((f"{name} (sinkhole)", conn), []).append(float(out))
        finally:
            for box in boxes.values():
                box.close()
    server.shutdown()
    print(f"small HTTPS POSTs, {n} per loop, requests/s, median of {rounds}:")
    print(f"  {'':26} {'keep-alive':>12} {'new TLS each':>14}")
    for name in ("direct (loopback server)", "proxy (sinkhole)", "tun (sinkhole)"):
        ka, new = (statistics.median(rates[(name, c)]) for c in ("keep-alive", "new"))
        print(f"  {name:26} {ka:12.0f} {new:14.0f}")


def sandbox(rounds: int, steps: int, workdir: Path) -> None:
    """Per run and per step cost of the run sandbox against the uncontained path."""
    if isolation.problem():
        print(f"run sandbox: skipped ({isolation.problem()})")
        return
    env = {"PATH": os.environ["PATH"], "HOME": "/home/benchuser"}
    rows = []
    for name, backend in (("tun", tun.TunBackend()), ("proxy", proxy.ProxyBackend())):
        for contained in (False, True):
            starts, stops, per_step = [], [], []
            for r in range(rounds):
                d = workdir / f"box-{name}-{contained}-{r}"
                home = d / "home" / "benchuser"
                (home / "src" / "p").mkdir(parents=True)
                (d / "state").mkdir()
                spec = BoxSpec(home=home, home_inside="/home/benchuser", username="benchuser", full_name="Bench User",
                               hostname="ws-bench", scenario_dir=d, hide=(d / "run", d / "state")) if contained else None
                t0 = time.perf_counter()
                session = backend.start(d / "run", (), d / "state", False, box=spec)
                starts.append(time.perf_counter() - t0)
                info = session.info
                for _ in range(steps):
                    t0 = time.perf_counter()
                    if info.launch:
                        info.launch(["bash", "-c", "true"], cwd="/home/benchuser/src/p", env={**env, **info.env},
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait()
                    else:
                        subprocess.run([*info.prefix, "bash", "-c", "true"], cwd=home / "src" / "p",
                                       env={**env, **info.env}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)
                    per_step.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                problems = session.stop()
                stops.append(time.perf_counter() - t0)
                if problems:
                    raise SystemExit(f"{name}: {problems}")
                shutil.rmtree(d, ignore_errors=True)
            rows.append((name, "contained" if contained else "uncontained", statistics.median(starts),
                         statistics.median(stops), statistics.median(per_step)))
    print(f"run sandbox: capture session start / stop and one trivial step, median of {rounds} runs x {steps} steps:")
    print(f"  {'':20} {'start s':>8} {'stop s':>8} {'step ms':>8}")
    for name, level, start, stop, step in rows:
        print(f"  {name + ' ' + level:20} {start:8.2f} {stop:8.2f} {step * 1000:8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--posts", type=int, default=300)
    ap.add_argument("--skip-download", action="store_true", help="no network: only the POST loop")
    ap.add_argument("--only", choices=("sandbox",), help="run only this part")
    ap.add_argument("--steps", type=int, default=20, help="trivial steps per run in the sandbox part")
    args = ap.parse_args()
    problem = tun.unavailable()
    if problem:
        raise SystemExit(f"full capture unavailable here: {problem}")
    with tempfile.TemporaryDirectory(prefix="tun-bench-") as tmp:
        workdir = Path(tmp)
        if args.only == "sandbox":
            sandbox(args.rounds, args.steps, workdir)
            return
        if not args.skip_download:
            pip_download(args.rounds, workdir)
        posts(args.rounds, args.posts, workdir)
        sandbox(args.rounds, args.steps, workdir)


if __name__ == "__main__":
    main()
