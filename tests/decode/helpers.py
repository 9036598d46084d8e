"""Exchanges built directly: no network, no proxy."""

from auditor.flowstore import Exchange, Message


def http(url="https://t.example/e", body=b"", headers=(), method="POST"):
    return Exchange(id="f1", kind="http", host="t.example", url=url, method=method,
                    request_headers=tuple(headers), request_body=body)


def stream(kind, *client_messages, server=()):
    msgs = tuple(Message(True, m) for m in client_messages) + tuple(Message(False, m) for m in server)
    return Exchange(id="f2", kind=kind, host="h.example", messages=msgs)
