"""Decode+detect throughput on one core, beside detect-secrets scanning the same decoded text.

    .venv/bin/python benchmarks/decode_detect.py [--mb 20] [--ds-mb 2] [--backend auto|re]

Workload: telemetry-like exchanges (NDJSON event batches with hex ids, random session ids, base64
blobs, paths; plain, gzip, zstd and br bodies) plus the labelled corpus flows (form, query,
cookies, protobuf, msgpack, JWT, websocket, tcp …), with a few canary values planted. Nothing
matches most of the time: the worst case, every byte is scanned and no early exit helps.

Figures: MB/s of wire payload (bytes the client sent, compressed where it was) and of decoded
bytes (every layer scanned); "walk" is the analysis' one walk per exchange (inspection.inspect:
the same evidence plus payload structure: key names, identifier candidates, parsed documents). detect-secrets gets the decoded text of every layer, as one file,
sampled to --ds-mb because it runs ~1000x slower; its column is skipped if it is not installed.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import importlib.util
import json
import os
import random
import string
import sys
import tempfile
import time
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.decode import layers  # noqa: E402
from auditor.decode.multiscan import HAVE_HYPERSCAN  # noqa: E402
from auditor.detect import Matcher, heuristic_hits, scan  # noqa: E402
from auditor.flowstore import Exchange  # noqa: E402
from auditor.inspection import inspect  # noqa: E402

try:
    from compression import zstd
except ImportError:
    from backports import zstd


def _corpus():
    spec = importlib.util.spec_from_file_location("corpus_generate", ROOT / "tests" / "corpus" / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def workload(mb: float, seed: int = 1):
    gen = _corpus()
    ident = gen.identity()
    rng = random.Random(seed)
    tok = lambda n, a=string.ascii_letters + string.digits: "".join(rng.choice(a) for _ in range(n))  # noqa: E731
    exchanges: list[Exchange] = [c.exchange for c in gen.build()]
    codecs = [("", lambda b: b), ("gzip", gzip.compress), ("zstd", zstd.compress), ("br", brotli.compress)]
    decoded = sum(len(e.request_body) for e in exchanges)
    while decoded < mb * 1e6:
        events = []
        for _ in range(200):
            ev = {"event": "cli_run", "anonymousId": tok(64, "0123456789abcdef"), "session": tok(22),
                  "ts": 1731000000 + rng.randrange(10**6), "cwd": f"/opt/{tok(8)}/{tok(6)}",
                  "blob": base64.b64encode(rng.randbytes(rng.randrange(10, 80))).decode(),
                  "version": f"2.{rng.randrange(9)}.{rng.randrange(20)}",
                  "meta": {"node": "v20.11.1", "cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz", "mem": rng.randrange(1, 64) * 1024}}
            if rng.random() < 0.002:  # a rare leak, so hits and path resolution are exercised
                ev["host"] = ident.hostname
            events.append(json.dumps(ev))
        body = "\n".join(events).encode()
        decoded += len(body)
        name, codec = codecs[len(exchanges) % len(codecs)]
        headers = [("Content-Type", "application/x-ndjson")] + ([("Content-Encoding", name)] if name else [])
        exchanges.append(Exchange(id=f"b{len(exchanges)}", kind="http", host="t.example", method="POST",
                                  url="https://t.example/v1/batch", request_headers=tuple(headers),
                                  request_body=codec(body)))
    return ident, exchanges


def wire_bytes(ex: Exchange) -> int:
    return (len(ex.url) + sum(len(k) + len(v) for k, v in ex.request_headers) + ex.sent_bytes
            + (len(ex.host) if ex.kind == "dns" else 0))


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def detect_secrets_rate(text: bytes) -> tuple[float, int] | None:
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as fo:
        fo.write(text)
    try:
        with default_settings():
            secrets = SecretsCollection()
            start = time.perf_counter()
            secrets.scan_file(fo.name)
            elapsed = time.perf_counter() - start
        return len(text) / elapsed / 1e6, sum(len(v) for v in secrets.data.values())
    finally:
        os.unlink(fo.name)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=20, help="decoded megabytes of workload")
    ap.add_argument("--ds-mb", type=float, default=2, help="megabytes of decoded text given to detect-secrets")
    ap.add_argument("--backend", default="auto", choices=["auto", "re"])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as promised
    if args.backend == "re":
        import auditor.decode.multiscan as ms
        ms.HAVE_HYPERSCAN = False
        import auditor.detect as det
        import auditor.decode.embedded as emb
        emb.PATTERNS = ms.PatternSet(emb.PATTERNS.patterns, "re")
        det._engine = None
    ident, exchanges = workload(args.mb)
    start = time.perf_counter()
    matcher = Matcher(ident, "re" if args.backend == "re" else "auto")
    build = time.perf_counter() - start
    heuristic_hits(b"warm up: compile the heuristic database once")

    groups = {
        "bulk telemetry (ndjson; gzip/zstd/br)": [e for e in exchanges if e.id.startswith("b")],
        "corpus (small flows, 22 encodings)": [e for e in exchanges if not e.id.startswith("b")],
        "all": exchanges,
    }
    backend = "hyperscan" if (HAVE_HYPERSCAN and args.backend == "auto") else "re"
    all_layers = [l for e in exchanges for l in layers(e)]
    print(f"identity: {len(matcher)} patterns, built in {build * 1e3:.0f} ms; backend: {backend}; one core; "
          f"load average {_load()}")
    print(f"{'egress-auditor decode+detect':<40}{'flows':>6}{'MB wire':>9}{'MB dec.':>9}"
          f"{'MB/s wire':>11}{'MB/s dec.':>11}{'decode only':>13}{'us/flow':>9}{'evidence':>10}"
          f"{'walk wire':>11}")
    for name, group in groups.items():
        wire = sum(wire_bytes(e) for e in group)
        decoded = sum(len(l.data) for e in group for l in layers(e))
        evidence = [0]

        def run(group=group):
            evidence[0] = sum(len(scan(e, matcher)) for e in group)

        elapsed = best_of(args.repeat, run)
        decode_only = best_of(args.repeat, lambda group=group: [None for e in group for _ in layers(e)])
        walk = best_of(args.repeat, lambda group=group: [inspect(e, matcher) for e in group])
        print(f"  {name:<38}{len(group):>6}{wire / 1e6:>9.2f}{decoded / 1e6:>9.2f}{wire / elapsed / 1e6:>11.1f}"
              f"{decoded / elapsed / 1e6:>11.1f}{decoded / decode_only / 1e6:>13.1f}"
              f"{elapsed / len(group) * 1e6:>9.0f}{evidence[0]:>10}{wire / walk / 1e6:>11.1f}")
    # detect-secrets skips a file that is not valid UTF-8 without a word: give it text.
    text = "\n".join(l.data.decode("utf-8", "replace").replace("\r", "").replace("\0", "")
                     for l in all_layers).encode("utf-8")
    sample = text[: int(args.ds_mb * 1e6)]
    ds = detect_secrets_rate(sample)
    if ds is None:
        print("detect-secrets: skipped (not installed: pip install detect-secrets)")
    else:
        rate, found = ds
        start = time.perf_counter()
        ours = sum(len(heuristic_hits(line)) + len(matcher.find(line)) for line in [sample])
        ours_rate = len(sample) / (time.perf_counter() - start) / 1e6
        print(f"same decoded text, {len(sample) / 1e6:.1f} MB: detect-secrets 1.5 {rate:.2f} MB/s "
              f"({found} 'secrets'); egress-auditor detectors {ours_rate:.1f} MB/s ({ours} hits)")
    print(f"load average after: {_load()} (the machine is shared: compare runs made at similar load)")


if __name__ == "__main__":
    main()
