"""Digests that package registries publish for their files, read from index responses.

pip's simple index (HTML links with a `#sha256=` fragment, or the JSON form with `hashes`) and npm
packuments (`dist.integrity`, `dist.shasum`) name the digest of every file they link to. The
download cache checks a cached file against these, fetched live in the same run, so an entry
altered on disk together with its recorded digest is still caught.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urljoin, urlsplit

from .download_cache import ALGORITHMS, sri_digests

MAX_INDEX = 64 * 1024 * 1024  # larger index documents are not read for digests
_HREF = re.compile(rb"""href\s*=\s*["']([^"'#]+)#([a-z0-9_]+)=([0-9a-fA-F]{32,128})["']""", re.IGNORECASE)
_DEFAULT_PORT = {"http": 80, "https": 443}


def normal_url(url: str) -> str:
    """scheme://host:port/path — the form index links and requests are compared in."""
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORT.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}{parts.path}"


def from_index(url: str, content_type: str, body: bytes) -> dict[str, dict[str, str]]:
    """{normalised file URL: {algorithm: hex digest}} for every file the index document names."""
    if len(body) > MAX_INDEX:
        return {}
    ctype = content_type.split(";", 1)[0].strip().lower()
    if "html" in ctype:
        return _from_html(url, body)
    if "json" in ctype and body.lstrip()[:1] == b"{":
        try:
            doc = json.loads(body)
        except ValueError:
            return {}
        return _from_json(url, doc) if isinstance(doc, dict) else {}
    return {}


def _from_html(url: str, body: bytes) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for href, algo, hexdigest in _HREF.findall(body):
        algo = algo.decode().lower()
        if algo in ALGORITHMS:
            target = urljoin(url, html.unescape(href.decode("utf-8", "replace")))
            out.setdefault(normal_url(target), {})[algo] = hexdigest.decode().lower()
    return out


def _from_json(url: str, doc: dict) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    files = doc.get("files")
    if isinstance(files, list):  # the simple index in JSON
        for f in files:
            if isinstance(f, dict) and isinstance(f.get("url"), str) and isinstance(f.get("hashes"), dict):
                hashes = {a: h.lower() for a, h in f["hashes"].items()
                          if a in ALGORITHMS and isinstance(h, str)}
                if hashes:
                    out[normal_url(urljoin(url, f["url"]))] = hashes
    versions = doc.get("versions")
    if isinstance(versions, dict):  # an npm packument
        for v in versions.values():
            dist = v.get("dist") if isinstance(v, dict) else None
            if not isinstance(dist, dict) or not isinstance(dist.get("tarball"), str):
                continue
            hashes = sri_digests(dist["integrity"]) if isinstance(dist.get("integrity"), str) else {}
            if isinstance(dist.get("shasum"), str) and re.fullmatch(r"[0-9a-fA-F]{40}", dist["shasum"]):
                hashes.setdefault("sha1", dist["shasum"].lower())
            if hashes:
                out[normal_url(urljoin(url, dist["tarball"]))] = hashes
    return out
