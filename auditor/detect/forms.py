"""The forms in which software really sends a known value.

For each identity value: its normal forms (a git remote as an https URL, host/path, owner/repo
with and without .git; a path's last component and its ~ form; an email lower-cased; a machine-id
as a UUID; a MAC without separators), then for each of those the encodings seen in telemetry: any
case, URL and JSON escaping, base64/base64url at each of the three byte alignments (so a value is
found inside a longer base64 blob without decoding it), hex, and unsalted md5/sha1/sha256/sha512
as hex and base64. Salted or keyed digests cannot be recognised, by design of the digest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

MIN_LEN = 6  # shorter values match by chance; they are not searched
MIN_B64 = 8  # shortest base64 core worth a literal (64**8 makes chance matches negligible)
DIGESTS = ("md5", "sha1", "sha256", "sha512")


@dataclass(frozen=True)
class Form:
    key: str  # identity key: "git_remote"
    form: str  # "plain", "base64", "sha256:owner/repo", …
    pattern: bytes
    caseless: bool
    source: str  # the string that was encoded (value or normal form): for confidence


_SCP = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")
_URL = re.compile(r"^[a-z+]+://(?:[^@/]+@)?([^/:]+)(?::\d+)?/(.+)$", re.I)


def git_forms(remote: str) -> list[tuple[str, str]]:
    m = _URL.match(remote) or _SCP.match(remote)
    if not m:
        return []
    host, path = m.group(1), m.group(2).strip("/")
    bare = path[:-4] if path.endswith(".git") else path
    dotgit = bare + ".git"
    return [("https", f"https://{host}/{dotgit}"), ("https", f"https://{host}/{bare}"),
            ("ssh", f"ssh://git@{host}/{dotgit}"), ("scp", f"git@{host}:{dotgit}"),
            ("host/path", f"{host}/{bare}"), ("owner/repo", bare), ("owner/repo.git", dotgit)]


def normal_forms(key: str, value: str, home: str = "") -> list[tuple[str, str]]:
    """(name, string) pairs that identify the same thing as value, value itself excluded."""
    out: list[tuple[str, str]] = []
    if key in ("git_remote",):
        out += git_forms(value)
    if value.startswith("/"):
        base = value.rstrip("/").rsplit("/", 1)[-1]
        out.append(("basename", base))
        if home and value.startswith(home + "/"):
            out.append(("tilde", "~" + value[len(home):]))
    if key in ("machine_id", "real_machine_id") and re.fullmatch(r"[0-9a-fA-F]{32}", value):
        v = value.lower()
        out.append(("uuid", f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"))
    if key in ("real_mac", "mac") and re.fullmatch(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}", value):
        out += [("bare", value.replace(":", "")), ("dash", value.replace(":", "-"))]
    seen = {value}
    uniq = []
    for name, s in out:
        if s not in seen and len(s) >= MIN_LEN:
            seen.add(s)
            uniq.append((name, s))
    return uniq


def b64_cores(data: bytes) -> set[bytes]:
    """The part of base64(data) that is the same wherever data sits in a longer byte string."""
    cores = set()
    for k, drop in ((0, 0), (1, 2), (2, 3)):
        enc = base64.b64encode(b"\0" * k + data)
        core = enc[drop:(8 * (k + len(data))) // 6]
        if len(core) >= MIN_B64:
            cores.add(core)
    return cores


def _b64_forms(data: bytes, name: str) -> list[tuple[str, bytes, bool]]:
    out = []
    for core in sorted(b64_cores(data)):
        out.append((name, core, False))
        url = core.translate(bytes.maketrans(b"+/", b"-_"))
        if url != core:
            out.append((name + "url", url, False))
    return out


def encodings(s: str) -> list[tuple[str, bytes, bool]]:
    """(form, pattern, caseless) for a reversible appearance of s."""
    raw = s.encode("utf-8")
    out = [("plain", raw, True)]
    for variant in {quote(s, safe=""), quote(s, safe="/"), quote_plus(s, safe="")} - {s}:
        out.append(("url", variant.encode(), True))
    escaped = json.dumps(s)[1:-1]
    for variant in {escaped, escaped.replace("/", "\\/"),
                    json.dumps(s, ensure_ascii=False)[1:-1].replace("/", "\\/")} - {s}:
        out.append(("json-escaped", variant.encode("utf-8"), True))
    out += _b64_forms(raw, "base64")
    out.append(("hex", raw.hex().encode(), True))
    return out


def digest_forms(s: str) -> list[tuple[str, bytes, bool]]:
    out = []
    for alg in DIGESTS:
        d = hashlib.new(alg, s.encode("utf-8")).digest()
        out.append((alg, d.hex().encode(), True))
        b64 = base64.b64encode(d).rstrip(b"=")
        out.append((f"{alg}-b64", b64, False))
        url = b64.translate(bytes.maketrans(b"+/", b"-_"))
        if url != b64:
            out.append((f"{alg}-b64url", url, False))
    return out


def forms_of(key: str, value: str, home: str = "", taken: frozenset[str] = frozenset()) -> list[Form]:
    """Every form of one identity value. `taken` holds other keys' values (lower-cased): a normal
    form equal to one of them belongs to that key, not this one."""
    out: list[Form] = []
    if len(value) < MIN_LEN:
        return out
    for form, pat, caseless in encodings(value) + digest_forms(value):
        out.append(Form(key, form, pat, caseless, value))
    for nf, s in normal_forms(key, value, home):
        if s.lower() in taken:
            continue
        for form, pat, caseless in encodings(s) + digest_forms(s):
            out.append(Form(key, f"{form}:{nf}", pat, caseless, s))
    # Digests are case-sensitive where the value is not: hash the cases software normalises to.
    for nf, s in (("lower", value.lower()), ("upper", value.upper())):
        if s != value:
            out += [Form(key, f"{form}:{nf}", pat, caseless, s) for form, pat, caseless in digest_forms(s)]
    return out


def guessed_digests(key: str, value: str) -> list[Form]:
    """Digests of plausible accidents (a shell's trailing newline, a path's trailing slash, a file
    URL): reported as heuristic "digest-of:<key>" with less than certainty."""
    if len(value) < MIN_LEN:
        return []
    variants = [("newline", value + "\n")]
    if value.startswith("/"):
        variants += [("slash", value.rstrip("/") + "/"), ("file-url", "file://" + value)]
    return [Form(key, f"{form}:{nf}", pat, caseless, s)
            for nf, s in variants for form, pat, caseless in digest_forms(s)]
