"""The download cache through real mitmdump processes and a loopback registry (real TLS, real bytes).

Each `Run` is one capture process, as each run of an audit is: the cache is shared only on disk.
"""

import hashlib
import ssl
import threading
import urllib.request
from contextlib import contextmanager

import pytest
from mitmproxy import io

from auditor.sandbox.mitm import CACHE_LINK, MitmProcess

from .loopback_registry import NAME, RESOLVER, Registry

pytestmark = pytest.mark.e2e


@pytest.fixture
def registry(tmp_path):
    r = Registry(tmp_path)
    yield r
    r.close()


@pytest.fixture
def audit_state(tmp_path):
    """What pipeline.execute prepares: a state dir whose download-cache link points at the cache."""
    state, cache = tmp_path / "state", tmp_path / "cache"
    state.mkdir()
    cache.mkdir()
    (state / CACHE_LINK).symlink_to(cache)
    return state, cache


@contextmanager
def capture(registry, state, name):
    run_dir = state.parent / "runs" / name
    mitm = MitmProcess(run_dir, "regular@127.0.0.1:0", state / "ca", (NAME,), state,
                       extra=("-s", str(RESOLVER), "--set", f"test_loopback_names={NAME}"))
    # The registry's certificate comes from its own test CA, not the system trust store.
    mitm.argv = [f"ssl_verify_upstream_trusted_ca={registry.ca}"
                 if a.startswith("ssl_verify_upstream_trusted_ca=") else a for a in mitm.argv]
    mitm.start()
    try:
        yield Client(mitm)
    finally:
        assert mitm.stop() == []


class Client:
    """The program under test: plain urllib through the proxy, trusting the audit CA."""

    def __init__(self, mitm):
        host, port = mitm.listen[0]
        ctx = ssl.create_default_context(cafile=str(mitm.confdir / "mitmproxy-ca-cert.pem"))
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": f"http://{host}:{port}"}),
                                                  urllib.request.HTTPSHandler(context=ctx))
        self.mitm = mitm

    def get(self, url: str) -> bytes:
        req = urllib.request.Request(url, headers={"X-Probe": "as-sent"})
        with self.opener.open(req, timeout=60) as r:
            return r.read()

    def flows(self):
        with open(self.mitm.run_dir / "flows.mitm", "rb") as fo:
            return {f.request.path: f for f in io.FlowReader(fo).stream()}


def install(client, registry) -> dict[str, bytes]:
    """What pip and npm do: read the index, then download the file it names."""
    got = {}
    for path in ("/simple/demo-pkg/", registry.wheel_path, "/demo-pkg", registry.tarball_path):
        got[path] = client.get(registry.base + path)
    return got


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_second_run_sees_identical_bytes_without_fetching_upstream(registry, audit_state):
    state, cache = audit_state
    with capture(registry, state, "first") as c:
        first = install(c, registry)
        first_flows = c.flows()
    assert registry.file_requests() == 2
    with capture(registry, state, "second") as c:
        second = install(c, registry)
        flows = c.flows()
    assert registry.file_requests() == 2, "the second run fetched a cached file upstream"
    assert registry.requests["/simple/demo-pkg/"] == registry.requests["/demo-pkg"] == 2  # metadata stays live
    for path, data in registry.files.items():
        assert first[path] == second[path] == data and sha(second[path]) == sha(data)
        assert first_flows[path].metadata["egress.cache"] == {"status": "fetched"}
        f = flows[path]
        assert f.request.headers["x-probe"] == "as-sent"  # recorded exactly as the program sent it
        assert f.response.raw_content == data
    # Checked against digests from outside the cache: the URL path, the registry's index.
    assert flows[registry.wheel_path].metadata["egress.cache"] == {
        "status": "hit", "verified": ["blake2b_256", "sha256"]}
    assert flows[registry.tarball_path].metadata["egress.cache"] == {"status": "hit", "verified": ["sha256", "sha512"]}
    assert "egress.cache" not in flows["/demo-pkg"].metadata


def test_corrupted_entries_are_detected_and_fetched_again(registry, audit_state):
    state, cache = audit_state
    with capture(registry, state, "first") as c:
        install(c, registry)
    for body in cache.rglob("*.body"):
        data = bytearray(body.read_bytes())
        data[len(data) // 2] ^= 0xFF
        body.write_bytes(bytes(data))
    with capture(registry, state, "after-damage") as c:
        got = install(c, registry)
        flows = c.flows()
    assert registry.file_requests() == 4
    for path, data in registry.files.items():
        assert got[path] == data
        assert flows[path].metadata["egress.cache"]["status"] == "refetched"
    with capture(registry, state, "repaired") as c:
        assert install(c, registry)[registry.wheel_path] == registry.wheel
    assert registry.file_requests() == 4


def test_concurrent_runs_fetch_a_file_once(registry, audit_state):
    state, _ = audit_state
    registry.delay = 1.5  # both requests are in flight while the first fetch is under way
    results, errors = {}, []
    with capture(registry, state, "a") as a, capture(registry, state, "b") as b:
        def fetch(name, client):
            try:
                results[name] = client.get(registry.base + registry.tarball_path)
            except Exception as e:  # reported below; a thread cannot fail the test itself
                errors.append(e)

        threads = [threading.Thread(target=fetch, args=(n, c)) for n, c in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = sorted(c.flows()[registry.tarball_path].metadata["egress.cache"]["status"] for c in (a, b))
    assert not errors
    assert results["a"] == results["b"] == registry.tarball
    assert registry.requests[registry.tarball_path] == 1
    assert statuses == ["fetched", "hit"]
