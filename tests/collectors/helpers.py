import base64
import gzip
import json

from auditor.collectors import recognise
from auditor.flowstore import Exchange
from auditor.inspection import inspect


def b64url(doc) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def request(method: str, url: str, body=None, ctype: str = "application/json", headers=(), gz=False):
    """What a collector SDK would send: JSON bodies serialised, optionally gzip'd."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    hdrs = [("Content-Type", ctype)] if body else []
    if gz:
        body = gzip.compress(body)
        hdrs.append(("Content-Encoding", "gzip"))
    host = url.split("/")[2]
    path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
    ex = Exchange(id="1", kind="http", host=host, scheme="https", method=method, url=url, path=path, tls=True,
                  request_headers=tuple(hdrs) + tuple(headers), request_body=body or b"")
    return recognise(ex, inspect(ex, None))


def protocol(*args, **kw) -> str:
    found = request(*args, **kw)
    return found.protocol if found else ""
