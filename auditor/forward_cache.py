"""The mitmproxy addon that answers repeated downloads of immutable package files from the cache.

Registered after the Recorder, it only ever touches requests the Recorder decided to forward to an
allowed host. The program under test still sends every request, and every request and response is
recorded as the program saw it; only the upstream fetch is saved. A response served from the cache
is marked in the flow's metadata (`egress.cache`), so the report can say what was not fetched live.
Index and metadata requests always go upstream; they teach the cache the digests to check against.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from mitmproxy import ctx, http

from .download_cache import Store, is_immutable, key_of, mismatch, url_digests
from .registry_digests import from_index, normal_url

log = logging.getLogger(__name__)
# A request for a file another run is fetching waits this long, then is fetched live uncached.
LOCK_WAIT = 900.0
# Conditional and partial requests get what the server says to this client: never a stored file.
_LIVE_HEADERS = ("range", "if-range", "if-none-match", "if-modified-since", "if-match", "if-unmodified-since")


class ForwardCache:
    def __init__(self) -> None:
        self.store: Store | None = None
        self._fetching: dict[str, tuple[str, int]] = {}  # flow id -> (key, lock descriptor)
        self._published: dict[str, dict[str, str]] = {}  # file URL -> digests the registry gave

    def load(self, loader) -> None:
        loader.add_option("egress_cache", str, "",
                          "Download cache directory for immutable package files; empty: no cache.")

    def configure(self, updated) -> None:
        if "egress_cache" in updated:
            self.store = Store(Path(ctx.options.egress_cache)) if ctx.options.egress_cache else None

    def _cacheable(self, flow: http.HTTPFlow) -> bool:
        req = flow.request
        return (self.store is not None and flow.response is None and req.method == "GET"
                and flow.metadata.get("egress.action") == "forward" and is_immutable(req.path)
                and not any(h in req.headers for h in _LIVE_HEADERS))

    def _file(self, flow: http.HTTPFlow) -> tuple[str, str]:
        req = flow.request
        host = flow.metadata.get("egress.host") or req.host
        return key_of(req.scheme, host, req.port, req.path), normal_url(f"{req.scheme}://{host}:{req.port}{req.path}")

    async def request(self, flow: http.HTTPFlow) -> None:
        if not self._cacheable(flow):
            return
        key, url = self._file(flow)
        expected = {**self._published.get(url, {}), **url_digests(flow.request.path)}
        entry, problem = await asyncio.to_thread(self.store.load, key, expected)
        if entry is None:
            fd = await self._lock(key)
            if fd is not None:  # another run may have stored it while this one waited
                entry, problem = await asyncio.to_thread(self.store.load, key, expected)
            if entry is not None:
                self.store.unlock(fd)
            elif fd is not None:
                if problem:
                    log.warning("download cache: %s: %s; fetching it again", url, problem)
                    self.store.discard(key)
                self._fetching[flow.id] = (key, fd)
        if entry is None:
            flow.metadata["egress.cache"] = {"status": "refetched" if problem else "fetched",
                                             **({"problem": problem} if problem else {})}
            return
        now = time.time()
        flow.response = http.Response(b"HTTP/1.1", entry.status, entry.reason,
                                      http.Headers([*entry.headers, (b"content-length", str(len(entry.body)).encode())]),
                                      entry.body, None, now, now)
        flow.metadata["egress.cache"] = {"status": "hit", "verified": list(entry.verified)}

    async def _lock(self, key: str) -> int | None:
        deadline = time.monotonic() + LOCK_WAIT
        while time.monotonic() < deadline:
            fd = self.store.try_lock(key)
            if fd is not None:
                return fd
            await asyncio.sleep(0.05)
        return None

    async def response(self, flow: http.HTTPFlow) -> None:
        pending = self._fetching.pop(flow.id, None)
        resp = flow.response
        if pending is None:
            self._learn(flow)
            return
        key, fd = pending
        try:
            # A file sent with a content-encoding on top is left uncached: the digests are the file's.
            if (resp.status_code == 200 and resp.raw_content is not None and not resp.trailers
                    and resp.headers.get("content-encoding", "identity").lower() == "identity"):
                await asyncio.to_thread(self._save, flow, key)
        finally:
            self.store.unlock(fd)

    def _save(self, flow: http.HTTPFlow, key: str) -> None:
        resp = flow.response
        _, url = self._file(flow)
        expected = {**self._published.get(url, {}), **url_digests(flow.request.path)}
        problem = mismatch(resp.raw_content, expected)
        if problem:  # the registry's own digest disagrees: the client will notice; never keep it
            log.warning("download cache: %s from upstream: %s; not cached", url, problem)
            return
        self.store.save(key, url, resp.status_code, resp.data.reason, list(resp.headers.fields), resp.raw_content)

    def error(self, flow: http.HTTPFlow) -> None:
        pending = self._fetching.pop(flow.id, None)
        if pending:
            self.store.unlock(pending[1])

    def done(self) -> None:
        for _, fd in self._fetching.values():
            self.store.unlock(fd)
        self._fetching.clear()

    def _learn(self, flow: http.HTTPFlow) -> None:
        """Remember the digests an index response of an allowed host publishes for its files."""
        resp = flow.response
        if (self.store is None or resp is None or resp.status_code != 200
                or flow.metadata.get("egress.action") != "forward" or flow.metadata.get("egress.cache")):
            return
        ctype = resp.headers.get("content-type", "")
        if "html" not in ctype and "json" not in ctype:
            return
        body = resp.get_content(strict=False) or b""
        if not any(mark in body for mark in (b"#sha", b"#md5", b"#blake2b", b'"hashes"', b'"dist"')):
            return
        _, url = self._file(flow)
        for file_url, digests in from_index(url, ctype, body).items():
            self._published.setdefault(file_url, {}).update(digests)
