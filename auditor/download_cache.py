"""The download cache: immutable package files, shared by the runs and audits of one user.

Only files whose URL names a version (wheels, sdists, npm tarballs, .deb …) are kept: such a URL
never changes its content, so every variant and every later audit can be answered from one
upstream fetch. Every entry is verified by digest each time it is served — against a digest the
URL itself carries, one the registry published in an index seen in the same run, and the one
recorded when the file was first fetched — so a corrupted or altered entry is refetched, never
served. One file lock per entry makes concurrent runs (separate mitmdump processes) fetch a file
once. The cache lives in the user's cache directory, outside every sandbox.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = 1
# <name>-<version>… or <name>_<version>… and a package-file extension: the file names a version.
_VERSIONED_FILE = re.compile(
    r"[^/]+[-_]v?\d[^/]*\.(whl|tar\.gz|tgz|zip|tar\.bz2|tar\.xz|deb|udeb|egg|gem|crate|nupkg|jar|apk)$",
    re.IGNORECASE)
# /packages/ab/cd/<60 hex>/<file>: the path is the BLAKE2b-256 digest of the file (warehouse layout).
_BLAKE2B_PATH = re.compile(r"/packages/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{60})/[^/]+$")
# Headers that describe one connection, not the file: never replayed.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                        "trailer", "upgrade", "content-length"})
ALGORITHMS = ("sha256", "sha512", "sha384", "sha1", "md5", "blake2b_256")


def default_dir() -> Path:
    """$EGRESS_AUDIT_CACHE, else $XDG_CACHE_HOME/egress-auditor, else ~/.cache/egress-auditor."""
    if os.environ.get("EGRESS_AUDIT_CACHE"):
        return Path(os.environ["EGRESS_AUDIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "egress-auditor"


def is_immutable(path: str) -> bool:
    """True for a URL path (no query) naming a versioned package file."""
    return "?" not in path and bool(_VERSIONED_FILE.search(path))


def url_digests(path: str) -> dict[str, str]:
    """Digests the URL path itself states."""
    m = _BLAKE2B_PATH.search(path)
    return {"blake2b_256": "".join(m.groups())} if m else {}


def sri_digests(integrity: str) -> dict[str, str]:
    """Subresource-integrity strings ("sha512-<base64> sha1-…") as hex digests."""
    out = {}
    for item in integrity.split():
        algo, _, b64 = item.partition("-")
        if algo in ALGORITHMS:
            try:
                out[algo] = base64.b64decode(b64, validate=True).hex()
            except (binascii.Error, ValueError):
                continue
    return out


def digest(algo: str, data: bytes) -> str:
    if algo == "blake2b_256":
        return hashlib.blake2b(data, digest_size=32).hexdigest()
    return hashlib.new(algo, data).hexdigest()


def mismatch(data: bytes, expected: dict[str, str]) -> str:
    """"" when data has every expected digest, else which one differs."""
    for algo, want in sorted(expected.items()):
        if algo in ALGORITHMS and digest(algo, data) != want.lower():
            return f"{algo} differs"
    return ""


def key_of(scheme: str, host: str, port: int, path: str) -> str:
    return hashlib.sha256(f"{scheme}://{host.lower()}:{port}{path}".encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    status: int
    reason: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    verified: tuple[str, ...]  # the digests it was checked against


class Store:
    def __init__(self, root: Path):
        self.root = root / "downloads" / f"v{SCHEMA}"

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.body", d / f"{key}.json", d / f"{key}.lock"

    def load(self, key: str, expected: dict[str, str]) -> tuple[Entry | None, str]:
        """The entry if present and whole: (entry, ""), (None, "") if absent, (None, why) if bad."""
        body_p, meta_p, _ = self._paths(key)
        try:
            meta = json.loads(meta_p.read_text(encoding="utf-8"))
            body = body_p.read_bytes()
        except FileNotFoundError:
            return None, ""
        except (OSError, ValueError) as e:
            return None, f"unreadable entry: {e}"
        if not isinstance(meta, dict) or meta.get("schema_version") != SCHEMA:
            return None, "unknown entry format"
        recorded = meta.get("digests") or {}
        # The digests from outside the cache (URL, registry index) come first: they cannot have
        # been altered together with the entry.
        checks = {**recorded, **expected}
        problem = "no digest recorded" if "sha256" not in recorded else mismatch(body, checks)
        if problem or len(body) != meta.get("size"):
            return None, problem or "size differs"
        headers = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["headers"])
        return Entry(meta["status"], meta["reason"].encode("latin-1"), headers, body,
                     tuple(sorted(checks))), ""

    def save(self, key: str, url: str, status: int, reason: bytes,
             headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        body_p, meta_p, _ = self._paths(key)
        body_p.parent.mkdir(parents=True, exist_ok=True)
        meta = {"schema_version": SCHEMA, "url": url, "status": status, "reason": reason.decode("latin-1"),
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers
                            if k.decode("latin-1").lower() not in HOP_BY_HOP],
                "size": len(body), "digests": {"sha256": digest("sha256", body)}, "stored": time.time()}
        # Body first, then the manifest that vouches for it; each replaced atomically.
        _write_atomic(body_p, body)
        _write_atomic(meta_p, json.dumps(meta, indent=1).encode())

    def discard(self, key: str) -> None:
        for p in self._paths(key)[:2]:
            p.unlink(missing_ok=True)

    def try_lock(self, key: str) -> int | None:
        """An exclusive lock on the entry (a descriptor to pass to unlock), or None if held."""
        lock_p = self._paths(key)[2]
        lock_p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # flock, not fcntl locks: two descriptors of one process exclude each other too.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def unlock(fd: int) -> None:
        os.close(fd)  # closing releases the lock; so does the death of the process that held it

    def prune(self, max_bytes: int) -> int:
        """Remove the least recently stored entries beyond max_bytes; skip entries in use."""
        entries = []
        for meta_p in self.root.glob("*/*.json"):
            body_p = meta_p.with_suffix(".body")
            try:
                entries.append((meta_p.stat().st_mtime, body_p.stat().st_size, meta_p.stem))
            except OSError:
                continue
        total, removed = sum(size for _, size, _ in entries), 0
        for _, size, key in sorted(entries):
            if total <= max_bytes:
                break
            fd = self.try_lock(key)
            if fd is None:
                continue
            try:
                self.discard(key)
            finally:
                self.unlock(fd)
            total -= size
            removed += 1
        return removed


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
    with open(tmp, "wb") as fo:
        fo.write(data)
    os.replace(tmp, path)
