"""Hostile captures on disk, written through mitmproxy's own FlowWriter: run directories, .mitm
and HAR files whose contents try to crash, stall or fool the analysis (issue 8).

Shared by the fuzz test, the adversarial battery and benchmarks/hostile_analysis.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path
from urllib.parse import quote

import msgpack
from mitmproxy import io
from mitmproxy.test import tflow

from auditor.identity import Identity, generate

IDENTITY = generate(seed=8)


def http_flow(path: bytes | str = "/v1/e", body: bytes = b"", headers=(), host: str = "t.example",
              method: str = "POST", scheme: str = "https"):
    f = tflow.tflow(resp=True)
    f.request.scheme = scheme
    f.request.port = 443 if scheme == "https" else 80
    f.request.host = host
    f.request.headers["host"] = host
    f.request.method = method
    f.request.path = path
    f.request.content = body
    for k, v in headers:
        f.request.headers.add(k, v)
    return f


def dns_flow(name: str):
    f = tflow.tdnsflow()
    f.request.questions[0].name = name
    return f


def write_mitm(path: Path, flows) -> Path:
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        for f in flows:
            w.add(f)
    return path


def run_dir(root: Path, flows, *, run: str = "unset", variant: str | None = None, scenario: str = "hostile",
            identity: Identity = IDENTITY, problems=(), allow=(), telemetry=()) -> Path:
    """A run directory as the runner writes it (run.json + flows.mitm)."""
    d = root / "runs" / scenario / run
    d.mkdir(parents=True, exist_ok=True)
    write_mitm(d / "flows.mitm", flows)
    manifest = {"schema_version": 1, "scenario": scenario, "run": run, "variant": variant or run.split("-")[0],
                "same_home_as": "", "identity": identity.to_json(),
                "expect": {"telemetry": list(telemetry), "notice": None}, "allow": list(allow),
                "consent": {"denied": True, "granted": False}, "capture": "tun",
                "coverage": ["tcp", "udp", "dns", "http"], "steps": [], "problems": list(problems),
                "notes": [], "exit_codes": [0], "complete": not problems}
    (d / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    return d


# ---- the adversarial inputs of issue 8 --------------------------------------------------------

# Credentials no canary covers, recognised by their format only (detect/credentials.py).
AWS_KEY = "AKIAQWERTYUIOPASDFGH"
STRIPE_KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = (base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode() + "." +
       base64.urlsafe_b64encode(b'{"sub":"1234567890","name":"Zelda Quux"}').rstrip(b"=").decode() +
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
SECRETS = (AWS_KEY, STRIPE_KEY, JWT)


def leaks(text: str | bytes, identity: Identity = IDENTITY) -> list[str]:
    """Full identity values (in any form the canary matcher knows: plain, any case, %-encoded,
    JSON-escaped, base64, hex, digests) and planted credentials found in text."""
    from auditor.detect import Matcher

    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    found = [f"{h.key} as {h.form}" for h in Matcher(identity).find(data)]
    return found + [s[:8] + "…" for s in SECRETS if s.encode() in data]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deep_json(depth: int, leaf: str = "c7e516e11ea94bd6a4c6c0f0e1a9b2d3") -> bytes:
    return ('{"a":' * depth + json.dumps(leaf) + "}" * depth).encode()


def gzip_bomb_runs(n: int, inflated: int = 1 << 20) -> bytes:
    """A gzip body (send it with Content-Encoding: gzip) of a JSON list of n distinct base64 runs,
    each a gzip of `inflated` zero bytes: ~21 bytes of capture per inflated MiB."""
    runs = (b'"' + base64.b64encode(gzip.compress(b"%08d" % i + b"\0" * inflated, 9)) + b'"' for i in range(n))
    return gzip.compress(b'{"x":[' + b",".join(runs) + b"]}", 9)


def many_params(n: int, value: str) -> str:
    return "/q?" + "&".join(f"p{i}={quote(value)}" for i in range(n))


def nested_encodings(depth: int, secret: str) -> bytes:
    data = json.dumps({"deep": secret}).encode()
    for i in range(depth):
        data = json.dumps({"x": base64.b64encode(zlib.compress(data) if i % 2 else data).decode()}).encode()
    return data


def after_padding(pad: int, secret: str) -> bytes:
    return b'{"pad":"' + b"a" * pad + b'","user":"' + secret.encode() + b'"}'


def torn(path: Path, cut: int = 40) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - cut])
    return path


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


REPORTS = ("report.html", "findings.json", "results.sarif", "junit.xml", "summary.md")


def report_text(out: Path) -> str:
    """The report files of an output directory (not runs/, which holds the raw capture by design),
    for "no full secret in any report" checks."""
    return "\n".join((Path(out) / name).read_bytes().decode("utf-8", "replace") for name in REPORTS
                     if (Path(out) / name).is_file())


def deep_msgpack(depth: int) -> bytes:
    tree = [b"leaf value"]
    for _ in range(depth):
        tree = [tree, b"text"]
    return msgpack.packb({b"k": tree})


def light_adversarial(identity: Identity = IDENTITY) -> dict:
    """The small adversarial exchanges of issue 8 (fresh flows on every call), with a rule each
    one's run must show: name -> (flows, rule or None). Cheap enough to mix into every fuzz run."""
    i, a = identity, "app.example"
    return {
        "cookie-ff": ([http_flow(host=a, headers=[("cookie", "a=\udcff; b=" + i.username)])], "PRIV-001"),
        "path-ff": ([http_flow(host=a, path=b"/v1/\xff/" + i.hostname.encode())], "CONF-001"),
        "header-name-ff": ([http_flow(host=a, headers=[("x-\udcff", i.email)])], "PRIV-001"),
        "deep-json": ([http_flow(host=a, body=deep_json(1000, i.machine_id))], "PRIV-001"),
        "dns-bracket": ([dns_flow("a[b.example"), dns_flow(i.hostname + ".x[.example")], "CONF-001"),
        "esc-hosts": ([dns_flow("evil\x1b[2J.example"), http_flow(host="x\nallowed.example")], None),
        "secrets-in-url": ([http_flow(host=a, method="GET", path=(
            f"/v1/{JWT}/e?k={AWS_KEY}&s={STRIPE_KEY}&u={b64(i.email)}&h={i.hostname.encode().hex()}"
            f"&p={quote(i.project_path, safe='')}&n={quote(i.full_name)}"))], "CONF-002"),
        "json-key-canary": ([http_flow(host=a, body=json.dumps({"users": {i.email: {"token": AWS_KEY}}}).encode())],
                            "PRIV-001"),
        "nested-10": ([http_flow(host=a, body=nested_encodings(10, i.email),
                                 headers=[("content-type", "application/json")])], None),
        "msgpack-deep": ([http_flow(host=a, body=deep_msgpack(1000), headers=[("content-type", "application/msgpack")])],
                         None),
    }
