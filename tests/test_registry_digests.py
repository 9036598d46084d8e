"""Digests that registries publish, read from index documents (HTML, JSON simple index, npm)."""

import base64
import hashlib
import json

import pytest

from auditor.registry_digests import from_index, normal_url

SHA = hashlib.sha256(b"a").hexdigest()
SHA512 = hashlib.sha512(b"b").digest()


@pytest.mark.parametrize("url, normal", [
    ("https://Files.Example/p/a-1.0.tgz#sha256=00", "https://files.example:443/p/a-1.0.tgz"),
    ("http://files.example:8080/p/a-1.0.tgz?x=1", "http://files.example:8080/p/a-1.0.tgz"),
])
def test_normal_url(url, normal):
    assert normal_url(url) == normal


def test_simple_html_index_links_with_fragments():
    page = (f'<a href="../../packages/aa/bb/cc/a-1.0-py3-none-any.whl#sha256={SHA}">a</a>\n'
            f'<a href="https://files.example/b-2.0.tar.gz#md5={"0" * 32}" data-requires-python="&gt;=3">b</a>\n'
            '<a href="/c-3.0.tar.gz">no digest</a>\n'
            f'<a href="/d-1.0.tar.gz#unknownalgo={"f" * 40}">unknown algorithm</a>').encode()
    got = from_index("https://index.example/simple/a/", "text/html; charset=utf-8", page)
    assert got == {"https://index.example:443/packages/aa/bb/cc/a-1.0-py3-none-any.whl": {"sha256": SHA},
                   "https://files.example:443/b-2.0.tar.gz": {"md5": "0" * 32}}


def test_json_simple_index():
    doc = {"meta": {"api-version": "1.1"}, "files": [
        {"filename": "a-1.0.tar.gz", "url": "https://files.example/a-1.0.tar.gz", "hashes": {"sha256": SHA.upper()}},
        {"filename": "b", "url": "/b-1.0.tar.gz", "hashes": {}}, {"url": 3}, "junk"]}
    got = from_index("https://index.example/simple/a/", "application/vnd.pypi.simple.v1+json", json.dumps(doc).encode())
    assert got == {"https://files.example:443/a-1.0.tar.gz": {"sha256": SHA}}


def test_npm_packument_integrity_and_shasum():
    doc = {"name": "a", "versions": {
        "1.0.0": {"dist": {"tarball": "https://registry.example/a/-/a-1.0.0.tgz",
                           "integrity": "sha512-" + base64.b64encode(SHA512).decode(), "shasum": "ab" * 20}},
        "0.9.0": {"dist": {"tarball": "https://registry.example/a/-/a-0.9.0.tgz", "shasum": "not-hex"}},
        "0.1.0": "junk"}}
    got = from_index("https://registry.example/a", "application/vnd.npm.install-v1+json", json.dumps(doc).encode())
    assert got == {"https://registry.example:443/a/-/a-1.0.0.tgz": {"sha512": SHA512.hex(), "sha1": "ab" * 20}}


@pytest.mark.parametrize("ctype, body", [
    ("application/json", b"[1, 2]"), ("application/json", b"{broken"), ("text/plain", b"href='x#sha256=00'"),
    ("application/octet-stream", b"{}"),
])
def test_other_documents_name_nothing(ctype, body):
    assert from_index("https://index.example/", ctype, body) == {}
