"""A labelled corpus of client traffic, built as Exchanges (no network): `python generate.py` prints
a summary; tests/test_corpus.py and benchmarks/decode_detect.py import `build()`.

Each case plants 0-3 known items (canary values in the forms software uses, or things only a
heuristic can see) under one encoding, among decoys that must not be reported: another identity's
values, UUIDs, git shas, version strings, private addresses, timestamps, random ids and blobs,
documentation keys, a salted digest, a card number with a bad checksum.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import random
import string
import struct
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import brotli
import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from auditor.flowstore import Exchange, Message  # noqa: E402
from auditor.identity import Identity, generate  # noqa: E402

try:
    from compression import zstd
except ImportError:
    from backports import zstd

IDENTITY_SEED = 1000
ENCODINGS = ("json", "gzip", "br", "zstd", "ndjson", "base64-json", "form", "query", "cookie",
             "header", "protobuf", "msgpack", "jwt", "websocket", "tcp", "multipart", "udp",
             # harder: nested and unlabelled encodings
             "hex-json", "b64-gzip", "escaped-json", "b64-framed", "grpc")
NO_KEYS = ("form", "query", "cookie", "protobuf", "grpc")  # field names are not in the data: no geo


@dataclass(frozen=True)
class Case:
    exchange: Exchange
    encoding: str
    expected: frozenset  # {(detector, match)}


def _tok(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = sum(d if i % 2 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i:i + 4] for i in range(0, 16, 4))


def _jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc(claims)}.{base64.urlsafe_b64encode(b'signature-bytes-here').rstrip(b'=').decode()}"


def plants(ident: Identity, rng: random.Random) -> list:
    """(label set, field, value) candidates; value None marks the geo pair."""
    owner_repo = ident.git_remote.split(":", 1)[1]
    sha = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    c = lambda *keys: frozenset(("canary", k) for k in keys)  # noqa: E731
    h = lambda kind: frozenset({("heuristic", kind)})  # noqa: E731
    return [
        (c("hostname"), "host", ident.hostname),
        (c("hostname"), "hostU", ident.hostname.upper()),
        (c("hostname"), "hb64", base64.b64encode(ident.hostname.encode()).decode()),
        (c("fqdn"), "fqdn", ident.fqdn),
        (c("username"), "user", ident.username),
        (c("email"), "email", ident.email),
        (c("email"), "gravatar", hashlib.md5(ident.email.lower().encode()).hexdigest()),
        (c("full_name"), "name", ident.full_name),
        (c("project_path", "home"), "cwd", ident.project_path),
        (c("project_path"), "projectId", sha(ident.project_path)),
        (frozenset({("heuristic", "digest-of:project_path")}), "pid2", sha(ident.project_path + "\n")),
        (c("project_name"), "proj", hashlib.md5(ident.project_name.encode()).hexdigest()),
        (c("git_remote"), "remote", ident.git_remote),
        (c("git_remote"), "repoHash", sha(owner_repo)),
        (c("git_remote"), "repoUrl", "https://" + ident.git_remote[4:].replace(":", "/", 1)),
        (c("machine_id"), "mid", ident.machine_id),
        (c("machine_id"), "device", str(uuid.UUID(ident.machine_id))),
        (c("home"), "homedir", ident.home),
        (c("aws_access_key_id"), "awsKey", ident.aws_access_key_id),
        (c("github_token"), "gh", ident.github_token),
        (c("npm_token"), "npm", ident.npm_token),
        (c("ci_actor"), "actor", ident.ci_actor),
        (c("internal_domain"), "domain", ident.internal_domain),
        (h("email"), "contact", f"{_tok(rng, 6, string.ascii_lowercase)}.{_tok(rng, 5, string.ascii_lowercase)}@gmail.com"),
        (h("ipv4-public"), "clientIp", f"81.{rng.randrange(2, 200)}.{rng.randrange(10, 250)}.{rng.randrange(10, 250)}"),
        (h("ipv6-public"), "ip6", f"2a00:1450:{rng.randrange(4096, 65535):x}:80e::{rng.randrange(256, 4095):x}"),
        (h("phone"), "phone", f"+33 6 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}"),
        (h("card"), "pan", _luhn_card(rng)),
        (h("mac"), "hw", ":".join(f"{b:02x}" for b in [rng.randrange(0, 256) & 0xFC] + [rng.randrange(256) for _ in range(5)])),
        (h("github-token"), "tok", "ghp_" + _tok(rng, 36)),
        (h("aws-access-key"), "key2", "AKIA" + _tok(rng, 16, string.ascii_uppercase + "234567")),
        (h("geo"), "geo", None),
    ]


def decoys(other: Identity, rng: random.Random) -> dict:
    return {
        "uuid": str(uuid.UUID(int=rng.getrandbits(128))), "commit": _tok(rng, 40, "0123456789abcdef"),
        "version": "1.2.3.4", "appVersion": f"2.{rng.randrange(20)}.{rng.randrange(9)}",
        "session": _tok(rng, 22), "anonymousId": _tok(rng, 64, "0123456789abcdef"),
        "ts": 1731000000 + rng.randrange(10**6), "time": "2024-11-05T12:30:45+01:00",
        "lan": f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}", "node": "v20.11.1",
        "blob": base64.b64encode(rng.randbytes(rng.randrange(12, 60))).decode(),
        "otherHost": other.hostname, "otherUser": other.username, "otherMid": other.machine_id,
        "otherPath": other.project_path, "docKey": "AKIAIOSFODNN7EXAMPLE",
        "salted": hashlib.sha256(b"salt:" + other.project_path.encode()).hexdigest(),
        "badCard": "4539 1488 0343 6468", "build": "10.0.19045.1", "cpu": "Intel(R) Xeon(R) CPU @ 2.20GHz",
        "noreply": "noreply@github.com", "load": [0.1234, 0.5678], "ua": "Mozilla/5.0 Chrome/120.0.6099.109",
    }


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _pb_field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _protobuf(fields: dict) -> bytes:
    items = [_pb_field(i + 1, str(v).encode()) for i, v in enumerate(fields.values())]
    half = len(items) // 2  # half the fields in a nested message, as real schemas do
    return b"".join(items[:half]) + _pb_field(99, b"".join(items[half:]))


def _http(i: int, body: bytes = b"", headers=(), url="https://telemetry.vendor.example/v1/e", method="POST"):
    return Exchange(id=f"c{i}", kind="http", host="telemetry.vendor.example", url=url, method=method,
                    request_headers=tuple(headers), request_body=body)


def encode(i: int, enc: str, fields: dict, rng: random.Random) -> Exchange:
    doc = json.dumps(fields).encode()
    ctype = [("Content-Type", "application/json")]
    if enc == "json":
        return _http(i, doc, ctype)
    if enc in ("gzip", "br", "zstd"):
        packed = {"gzip": gzip.compress, "br": brotli.compress, "zstd": zstd.compress}[enc](doc)
        return _http(i, packed, ctype + [("Content-Encoding", enc)])
    if enc == "ndjson":
        keys = list(fields)
        lines = [json.dumps({k: fields[k] for k in keys[j::3]}) for j in range(3)]
        return _http(i, "\n".join(lines).encode() + b"\n", [("Content-Type", "application/x-ndjson")])
    if enc == "base64-json":
        return _http(i, json.dumps({"schema": "iglu:com.snowplow/1-0-0", "data": [
            {"e": "ue", "ue_px": base64.urlsafe_b64encode(doc).decode().rstrip("=")}]}).encode(), ctype)
    if enc == "hex-json":
        return _http(i, json.dumps({"v": 2, "payload": doc.hex()}).encode(), ctype)
    if enc == "b64-gzip":
        return _http(i, json.dumps({"v": 2, "d": base64.b64encode(gzip.compress(doc)).decode()}).encode(), ctype)
    if enc == "escaped-json":  # JSON inside a JSON string, slashes escaped as PHP does
        return _http(i, json.dumps({"event": doc.decode().replace("/", "\\/")}).encode(), ctype)
    if enc == "b64-framed":  # a binary length prefix before the JSON, all in base64
        framed = struct.pack(">I", len(doc) | 0x80000000) + doc
        return _http(i, json.dumps({"blob": base64.b64encode(framed).decode()}).encode(), ctype)
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    if enc == "grpc":
        msg = _protobuf(flat)
        return _http(i, b"\x00" + struct.pack(">I", len(msg)) + msg, [("Content-Type", "application/grpc")])
    if enc == "form":
        return _http(i, urlencode(flat).encode(), [("Content-Type", "application/x-www-form-urlencoded")])
    if enc == "query":
        return _http(i, url="https://telemetry.vendor.example/i?" + urlencode(flat), method="GET")
    if enc == "cookie":
        return _http(i, headers=[("Cookie", "; ".join(f"{k}={quote(v)}" for k, v in flat.items()))], method="GET")
    if enc == "header":
        return _http(i, headers=[("User-Agent", "tool/2.4.0 " + doc.decode())], method="GET")
    if enc == "protobuf":
        return _http(i, _protobuf(flat), [("Content-Type", "application/x-protobuf")])
    if enc == "msgpack":
        return _http(i, msgpack.packb(fields), [("Content-Type", "application/msgpack")])
    if enc == "jwt":
        return _http(i, headers=[("Authorization", "Bearer " + _jwt(fields))], method="GET")
    if enc == "multipart":
        body = (b"--bnd\r\nContent-Disposition: form-data; name=\"event\"\r\nContent-Type: application/json\r\n\r\n"
                + doc + b"\r\n--bnd\r\nContent-Disposition: form-data; name=\"log\"; filename=\"a.gz\"\r\n\r\n"
                + gzip.compress(b"log: started ok\n") + b"\r\n--bnd--\r\n")
        return _http(i, body, [("Content-Type", "multipart/form-data; boundary=bnd")])
    msgs = (Message(True, doc[: len(doc) // 2]), Message(True, doc[len(doc) // 2:])) if enc == "tcp" \
        else (Message(True, doc),)
    kind = {"websocket": "websocket", "tcp": "tcp", "udp": "udp"}[enc]
    return Exchange(id=f"c{i}", kind=kind, host="collector.vendor.example", port=9000,
                    url="wss://collector.vendor.example/ws" if kind == "websocket" else "", messages=msgs)


def build(n_per_encoding: int = 14, seed: int = 7) -> list[Case]:
    rng = random.Random(seed)
    ident, other = identity(), generate(seed=IDENTITY_SEED + 1)
    cases: list[Case] = []
    for enc in ENCODINGS:
        for j in range(n_per_encoding):
            pool = [p for p in plants(ident, rng) if not (p[2] is None and enc in NO_KEYS)]
            chosen = rng.sample(pool, 0 if j % 5 == 0 else rng.randrange(1, 4))
            fields = decoys(other, rng)
            expected: set = {("heuristic", "jwt")} if enc == "jwt" else set()
            for labels, field, value in chosen:
                expected |= labels
                if value is None:
                    fields.update(lat=round(rng.uniform(-60, 60), 5), lon=round(rng.uniform(-170, 170), 5))
                else:
                    fields[field] = value
            items = list(fields.items())
            rng.shuffle(items)
            cases.append(Case(encode(len(cases), enc, dict(items), rng), enc, frozenset(expected)))
    return cases


def identity() -> Identity:
    return generate(seed=IDENTITY_SEED)


if __name__ == "__main__":
    corpus = build()
    planted = sum(len(c.expected) for c in corpus)
    print(json.dumps({"flows": len(corpus), "encodings": len(ENCODINGS), "planted_labels": planted,
                      "clean_flows": sum(1 for c in corpus if not c.expected),
                      "payload_bytes": sum(len(c.exchange.request_body) + len(c.exchange.url)
                                           + sum(len(m.content) for m in c.exchange.messages) for c in corpus)}))
