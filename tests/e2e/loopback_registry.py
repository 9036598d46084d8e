"""A package registry on loopback for tests: a simple index, a wheel, an npm packument and tarball.

Served over HTTPS under a `.example` name with its own test CA; `loopback_resolver.py` (a mitmdump
addon loaded after the recorder) sends forwarded connections for that name to 127.0.0.1. Counts
every request per path, and can hold file responses back to make concurrent fetches overlap.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import ssl
import tarfile
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

NAME = "registry.example"
RESOLVER = Path(__file__).with_name("loopback_resolver.py")


def wheel_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("demo_pkg/__init__.py", "VALUE = 42\n" * 2000)
        z.writestr("demo_pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n")
    return buf.getvalue()


def tarball_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = json.dumps({"name": "demo-pkg", "version": "1.0.0", "pad": "x" * 50000}).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size, info.mtime = len(data), 0
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Registry:
    def __init__(self, workdir: Path, name: str = NAME, tls: bool = True):
        self.wheel, self.tarball = wheel_bytes(), tarball_bytes()
        b2 = hashlib.blake2b(self.wheel, digest_size=32).hexdigest()
        self.wheel_path = f"/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/demo_pkg-1.0-py3-none-any.whl"
        self.tarball_path = "/demo-pkg/-/demo-pkg-1.0.0.tgz"
        self.files = {self.wheel_path: self.wheel, self.tarball_path: self.tarball}
        self.requests: Counter[str] = Counter()
        self.delay = 0.0
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                registry.requests[self.path] += 1
                body, ctype = registry.answer(self.path)
                if body is None:
                    self.send_error(404)
                    return
                if self.path in registry.files and registry.delay:
                    time.sleep(registry.delay)
                self.send_response(200)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self._certificate(workdir, name))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"{'https' if tls else 'http'}://{name}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _certificate(self, workdir: Path, name: str) -> Path:
        """A server certificate for name from a test CA of its own (self.ca)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from mitmproxy import certs

        store = certs.CertStore.from_store(workdir / "registry-ca", "registry-test", 2048)
        entry = store.get_cert(name, x509.GeneralNames([x509.DNSName(name)]))
        key = entry.privatekey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        self.ca = workdir / "registry-ca.pem"
        self.ca.write_bytes(store.default_ca.to_pem())
        (workdir / "registry.pem").write_bytes(entry.cert.to_pem() + key)
        return workdir / "registry.pem"

    def answer(self, path: str) -> tuple[bytes | None, str]:
        if path in self.files:
            return self.files[path], "application/octet-stream"
        if path == "/simple/demo-pkg/":
            sha = hashlib.sha256(self.wheel).hexdigest()
            return f'<a href="{self.wheel_path}#sha256={sha}">demo_pkg-1.0-py3-none-any.whl</a>'.encode(), "text/html"
        if path == "/demo-pkg":
            integrity = "sha512-" + base64.b64encode(hashlib.sha512(self.tarball).digest()).decode()
            doc = {"name": "demo-pkg", "versions": {"1.0.0": {"dist": {
                "tarball": self.base + self.tarball_path, "integrity": integrity}}}}
            return json.dumps(doc).encode(), "application/vnd.npm.install-v1+json"
        return None, ""

    def file_requests(self) -> int:
        return sum(n for p, n in self.requests.items() if p in self.files)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
