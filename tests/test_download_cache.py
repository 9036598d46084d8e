"""The download cache store: which URLs are immutable, digests, verification, locks, pruning."""

import base64
import hashlib
import os

import pytest

from auditor.download_cache import Store, is_immutable, key_of, mismatch, sri_digests, url_digests

HEADERS = [(b"Content-Type", b"application/octet-stream"), (b"ETag", b'"x1"'),
           (b"Transfer-Encoding", b"chunked"), (b"Connection", b"keep-alive")]


@pytest.mark.parametrize("path, immutable", [
    ("/packages/ab/cd/" + "e" * 60 + "/idna-3.7-py3-none-any.whl", True),
    ("/packages/source/i/idna/idna-3.7.tar.gz", True),
    ("/react/-/react-18.2.0.tgz", True),
    ("/@scope/pkg/-/pkg-1.0.0-beta.1.tgz", True),
    ("/debian/pool/main/c/curl/curl_7.88.1-10_amd64.deb", True),
    ("/simple/idna/", False),  # an index: changes with every release
    ("/react", False),  # a packument
    ("/archive/refs/heads/main.tar.gz", False),  # a branch moves
    ("/dist/latest.tar.gz", False),
    ("/files/pkg-1.0.tgz?signature=abc", False),  # signed or dynamic: the query may change the answer
    ("/pkg-1.0.tgz.sig", False),
])
def test_only_versioned_package_files_are_immutable(path, immutable):
    assert is_immutable(path) is immutable


def test_digest_in_the_url_path_and_sri_strings():
    body = b"wheel bytes"
    b2 = hashlib.blake2b(body, digest_size=32).hexdigest()
    path = f"/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/x-1.0-py3-none-any.whl"
    assert url_digests(path) == {"blake2b_256": b2}
    assert mismatch(body, url_digests(path)) == ""
    assert mismatch(b"other bytes", url_digests(path)) == "blake2b_256 differs"
    assert url_digests("/packages/source/x/x/x-1.0.tar.gz") == {}
    sri = "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode()
    assert sri_digests(sri + " sha1-notbase64!") == {"sha512": hashlib.sha512(body).hexdigest()}
    assert sri_digests("md6-AAAA") == {}


def test_key_names_scheme_host_port_and_path():
    k = key_of("https", "Files.Example", 443, "/a-1.0.tgz")
    assert k == key_of("https", "files.example", 443, "/a-1.0.tgz")
    assert len({k, key_of("http", "files.example", 443, "/a-1.0.tgz"),
                key_of("https", "files.example", 8443, "/a-1.0.tgz"),
                key_of("https", "other.example", 443, "/a-1.0.tgz")}) == 4


def test_saved_entry_is_served_verified_without_connection_headers(tmp_path):
    store, key, body = Store(tmp_path), "ab" + "0" * 62, os.urandom(5000)
    assert store.load(key, {}) == (None, "")
    store.save(key, "https://files.example:443/a-1.0.tgz", 200, b"OK", HEADERS, body)
    entry, problem = store.load(key, {"sha1": hashlib.sha1(body).hexdigest()})
    assert problem == "" and entry.body == body and entry.status == 200 and entry.reason == b"OK"
    assert entry.headers == ((b"Content-Type", b"application/octet-stream"), (b"ETag", b'"x1"'))
    assert entry.verified == ("sha1", "sha256")


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "replace body and recorded digest"])
def test_a_damaged_entry_is_never_served(tmp_path, damage):
    store, key, body = Store(tmp_path), "cd" + "1" * 62, os.urandom(5000)
    store.save(key, "u", 200, b"OK", HEADERS, body)
    body_p = next(tmp_path.rglob("*.body"))
    meta_p = body_p.with_suffix(".json")
    published = {"sha256": hashlib.sha256(body).hexdigest()}  # what a registry index says
    if damage == "flip a byte":
        data = bytearray(body)
        data[1234] ^= 1
        body_p.write_bytes(bytes(data))
    elif damage == "truncate":
        body_p.write_bytes(body[:-1])
    else:  # altered consistently: only a digest from outside the cache can tell
        evil = os.urandom(5000)
        body_p.write_bytes(evil)
        meta_p.write_text(meta_p.read_text().replace(published["sha256"], hashlib.sha256(evil).hexdigest()))
    entry, problem = store.load(key, published)
    assert entry is None and problem


def test_unreadable_or_foreign_manifests_are_problems_not_crashes(tmp_path):
    store, key = Store(tmp_path), "ef" + "2" * 62
    store.save(key, "u", 200, b"OK", HEADERS, b"x")
    meta_p = next(tmp_path.rglob("*.json"))
    meta_p.write_text("{not json")
    assert store.load(key, {})[1].startswith("unreadable entry")
    meta_p.write_text('{"schema_version": 99}')
    assert store.load(key, {}) == (None, "unknown entry format")


def test_one_lock_holder_per_entry_even_within_one_process(tmp_path):
    store = Store(tmp_path)
    fd = store.try_lock("aa" * 32)
    assert fd is not None and store.try_lock("aa" * 32) is None
    assert store.try_lock("bb" * 32) is not None  # other files are independent
    store.unlock(fd)
    assert store.try_lock("aa" * 32) is not None


def test_prune_removes_oldest_entries_and_spares_locked_ones(tmp_path):
    store = Store(tmp_path)
    keys = [f"{i:02x}" + "3" * 62 for i in range(4)]
    for i, k in enumerate(keys):
        store.save(k, "u", 200, b"OK", HEADERS, b"x" * 1000)
        meta = next(p for p in tmp_path.rglob(f"{k}.json"))
        os.utime(meta, (1000 + i, 1000 + i))
    held = store.try_lock(keys[0])
    assert store.prune(2000) == 2  # keys[0] is in use: keys[1] and keys[2] go instead
    store.unlock(held)
    assert [store.load(k, {})[0] is not None for k in keys] == [True, False, False, True]
