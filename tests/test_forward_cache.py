"""The download cache addon beside the Recorder, driven by mitmproxy's test helpers (no network)."""

import asyncio
import hashlib
import json

import pytest
from mitmproxy import http, io
from mitmproxy.test import taddons, tflow

from auditor.capture import Recorder
from auditor.download_cache import Store
from auditor.forward_cache import ForwardCache

BODY = bytes(range(256)) * 40
FILE = "/a/-/a-1.0.0.tgz"


@pytest.fixture
def addons(tmp_path):
    rec, cache = Recorder(), ForwardCache()
    with taddons.context(rec, cache) as tctx:
        tctx.configure(rec, egress_dir=str(tmp_path / "run"), egress_allow=["files.example"])
        tctx.configure(cache, egress_cache=str(tmp_path / "cache"))
        yield rec, cache, tmp_path


def get(path=FILE, host="files.example", **headers) -> http.HTTPFlow:
    f = tflow.tflow()
    f.request.scheme, f.request.host, f.request.port, f.request.path = "https", host, 443, path
    f.request.headers["host"] = host
    f.client_conn.sni = host
    for k, v in headers.items():
        f.request.headers[k.replace("_", "-")] = v
    return f


def through(rec, cache, f, upstream: bytes | None = BODY, status=200, headers=()):
    """One request through both addons, answered by `upstream` if the cache does not answer it."""
    rec.requestheaders(f)
    rec.request(f)
    asyncio.run(cache.request(f))
    if f.response is None:
        f.response = tflow.tresp(status_code=status, content=upstream,
                                 headers=http.Headers([(b"content-type", b"application/octet-stream"),
                                                       (b"transfer-encoding", b"chunked"), *headers]))
        f.metadata["upstream"] = True
    rec.response(f)
    asyncio.run(cache.response(f))
    return f


def recorded(d):
    with open(d / "run" / "flows.mitm", "rb") as fo:
        return list(io.FlowReader(fo).stream())


def test_second_request_is_answered_from_the_cache_and_marked(addons):
    rec, cache, d = addons
    first = through(rec, cache, get())
    second = through(rec, cache, get(x_probe="sent-by-client"), upstream=None)
    assert first.metadata["upstream"] and "upstream" not in second.metadata
    assert second.response.raw_content == BODY and second.response.status_code == 200
    assert second.response.headers["content-length"] == str(len(BODY))
    assert "transfer-encoding" not in second.response.headers  # one connection's framing is not replayed
    assert first.metadata["egress.cache"] == {"status": "fetched"}
    assert second.metadata["egress.cache"] == {"status": "hit", "verified": ["sha256"]}
    saved = recorded(d)
    assert [s.metadata.get("egress.cache", {}).get("status") for s in saved] == ["fetched", "hit"]
    assert saved[1].request.headers["x-probe"] == "sent-by-client"  # the request is kept as sent
    assert saved[1].response.raw_content == BODY


@pytest.mark.parametrize("flow", [
    lambda: get("/a"),  # the packument: metadata stays live
    lambda: get(host="elsewhere.example"),  # sinkholed, never forwarded
    lambda: get(range="bytes=0-10"),
    lambda: get(if_none_match='"x"'),
    lambda: get(FILE + "?token=1"),
])
def test_only_plain_gets_of_immutable_files_on_forwarded_hosts_are_cached(addons, flow):
    rec, cache, d = addons
    through(rec, cache, flow())
    again = through(rec, cache, flow())
    assert "egress.cache" not in again.metadata
    assert not list((d / "cache").rglob("*.body"))


def test_failed_and_encoded_downloads_are_not_kept(addons):
    rec, cache, d = addons
    through(rec, cache, get(), status=404)
    through(rec, cache, get(), headers=[(b"content-encoding", b"gzip")])
    assert not list((d / "cache").rglob("*.body"))
    assert Store(d / "cache").try_lock(next((d / "cache").rglob("*.lock")).stem) is not None  # released


def test_the_registry_index_digest_is_checked_on_every_hit(addons):
    rec, cache, d = addons
    through(rec, cache, get())
    body = next((d / "cache").rglob("*.body"))
    body.write_bytes(b"X" + BODY[1:])
    meta = body.with_suffix(".json")  # altered together with its recorded digest
    m = json.loads(meta.read_text())
    m["digests"]["sha256"] = hashlib.sha256(b"X" + BODY[1:]).hexdigest()
    meta.write_text(json.dumps(m))
    packument = {"versions": {"1.0.0": {"dist": {"tarball": "https://files.example/a/-/a-1.0.0.tgz",
                                                 "shasum": hashlib.sha1(BODY).hexdigest()}}}}
    index = get("/a")
    through(rec, cache, index, upstream=json.dumps(packument).encode(),
            headers=[(b"content-type", b"application/json")])
    again = through(rec, cache, get())
    assert again.metadata["upstream"] and again.response.raw_content == BODY
    assert again.metadata["egress.cache"] == {"status": "refetched", "problem": "sha1 differs"}
    third = through(rec, cache, get(), upstream=None)
    assert third.metadata["egress.cache"] == {"status": "hit", "verified": ["sha1", "sha256"]}


def test_upstream_bytes_that_contradict_the_published_digest_are_not_kept(addons):
    rec, cache, d = addons
    packument = {"versions": {"1.0.0": {"dist": {"tarball": "https://files.example/a/-/a-1.0.0.tgz",
                                                 "shasum": "00" * 20}}}}
    through(rec, cache, get("/a"), upstream=json.dumps(packument).encode(),
            headers=[(b"content-type", b"application/json")])
    through(rec, cache, get())
    assert not list((d / "cache").rglob("*.body"))


def test_without_a_cache_directory_nothing_changes(tmp_path):
    rec, cache = Recorder(), ForwardCache()
    with taddons.context(rec, cache) as tctx:
        tctx.configure(rec, egress_dir=str(tmp_path), egress_allow=["files.example"])
        f = through(rec, cache, get())
        assert "egress.cache" not in f.metadata and f.metadata["upstream"]


def test_an_error_releases_the_fetch_lock(addons):
    rec, cache, d = addons
    f = get()
    rec.request(f)
    asyncio.run(cache.request(f))
    lock = next((d / "cache").rglob("*.lock")).stem
    assert Store(d / "cache").try_lock(lock) is None  # held while the fetch is under way
    cache.error(f)
    assert Store(d / "cache").try_lock(lock) is not None
