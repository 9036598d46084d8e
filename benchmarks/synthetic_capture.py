"""A synthetic capture of telemetry posts, written with mitmproxy's own FlowWriter.

    .venv/bin/python benchmarks/synthetic_capture.py OUT.mitm --flows 100000 [--seed 1]

Each flow is an HTTPS POST of a JSON event batch (hex ids, random session ids, base64 blobs,
paths; every third one gzip-encoded) to a sinkholed telemetry host, answered `200 {}`, tagged as
the recorder tags it. About 2.4 KB per flow on disk, like the captures issue 11 measured. An
identity file (`OUT.identity.yaml`) names canary values, a few of which are planted in the posts.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import random
import string
import sys
import time
from pathlib import Path

from mitmproxy import connection, http, io

HOSTS = ("telemetry.bench.example", "events.bench.example", "metrics.bench.example")
IDENTITY = {"username": "benchuser7", "hostname": "ws-bench-4711", "email": "bench.user@corp-bench.example",
            "project_path": "/home/benchuser7/src/secret-project", "project_name": "secret-project"}


def _flow(rng: random.Random, i: int, t: float) -> http.HTTPFlow:
    tok = lambda n, a=string.ascii_letters + string.digits: "".join(rng.choices(a, k=n))  # noqa: E731
    events = [{"event": rng.choice(("cli_run", "cli_build", "page_view")), "anonymousId": tok(32, "0123456789abcdef"),
               "session": tok(22), "ts": 1731000000 + i, "cwd": f"/opt/{tok(8)}/{tok(6)}",
               "blob": base64.b64encode(rng.randbytes(rng.randrange(40, 200))).decode(),
               "version": f"2.{rng.randrange(9)}.{rng.randrange(20)}",
               "meta": {"node": "v20.11.1", "cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz", "mem": rng.randrange(64) * 1024}}
              for _ in range(rng.randrange(1, 5))]
    if i % 997 == 0:  # a rare leak: evidence and its path resolution are part of the work
        events[0]["host"] = IDENTITY["hostname"]
    body = json.dumps({"batch": events}).encode()
    headers = [(b"content-type", b"application/json"), (b"user-agent", b"bench-tool/2.4.0")]
    if i % 3 == 0:
        body = gzip.compress(body, 1)
        headers.append((b"content-encoding", b"gzip"))
    host = HOSTS[i % len(HOSTS)]
    req = http.Request(host, 443, b"POST", b"https", host.encode(), b"/v1/events", b"HTTP/1.1",
                       http.Headers([(b"host", host.encode()), *headers]), body, None, t, t + 0.001)
    resp = http.Response(b"HTTP/1.1", 200, b"OK", http.Headers([(b"content-type", b"application/json")]),
                         b"{}", None, t + 0.002, t + 0.003)
    client = connection.Client(peername=("10.0.0.1", 40000 + i % 20000), sockname=("198.18.0.2", 443),
                               timestamp_start=t, sni=host, tls_version="TLSv1.3")
    client.timestamp_tls_setup = t  # tls_established
    server = connection.Server(address=("127.0.0.1", 9))
    f = http.HTTPFlow(client, server)
    f.request, f.response = req, resp
    f.metadata = {"egress.host": host, "egress.action": "sinkhole"}
    return f


def write(path: Path, flows: int, seed: int = 1) -> Path:
    rng = random.Random(seed)
    t = 1731000000.0
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fo:
        writer = io.FlowWriter(fo)
        for i in range(flows):
            writer.add(_flow(rng, i, t + i * 0.01))
    tmp.replace(path)
    path.with_name(path.stem + ".identity.yaml").write_text(
        "".join(f"{k}: {json.dumps(v)}\n" for k, v in IDENTITY.items()))
    return path


def ensure(path: Path, flows: int) -> Path:
    """The capture at path, written once (generation is slower than reading)."""
    if not path.exists():
        start = time.perf_counter()
        write(path, flows)
        print(f"wrote {path} ({flows} flows, {path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--flows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    write(args.out, args.flows, args.seed)
    print(f"{args.out}: {args.flows} flows, {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
