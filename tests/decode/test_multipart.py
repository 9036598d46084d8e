import gzip

from auditor.decode import layers

from .helpers import http


def test_multipart_parts_with_their_own_types():
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n"
            b'{"user": "u1"}\r\n'
            b"--XyZ\r\nContent-Disposition: form-data; name=\"log\"; filename=\"app.log.gz\"\r\n"
            b"Content-Type: application/gzip\r\n\r\n" + gzip.compress(b"log line") + b"\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"b64\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"aGVsbG8gd29ybGQ=\r\n--XyZ--\r\n")
    ex = http(body=body, headers=[("Content-Type", 'multipart/form-data; boundary="XyZ"')])
    got = [(l.location, l.data, l.chain) for l in layers(ex) if l.part == "body"]
    assert got == [
        ("body:meta", b'{"user": "u1"}', ("multipart", "json")),
        ("body:log", b"log line", ("multipart", "gzip")),
        ("body:b64", b"hello world", ("multipart",)),
    ]


def test_multipart_without_boundary_is_scanned_raw():
    ex = http(body=b"--x\r\n\r\nabc", headers=[("Content-Type", "multipart/form-data")])
    assert [l.data for l in layers(ex) if l.part == "body"] == [b"--x\r\n\r\nabc"]
