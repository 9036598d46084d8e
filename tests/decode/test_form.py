import pytest

from auditor.decode import layers

from .helpers import http


@pytest.mark.parametrize("ctype, body, expected", [
    ("application/x-www-form-urlencoded", b"e=pv&uid=a%40b.c&name=Jo+Do",
     [("body:e", b"pv"), ("body:uid", b"a@b.c"), ("body:name", b"Jo Do")]),
    ("", b"a=1&b=two", [("body:a", b"1"), ("body:b", b"two")]),  # unlabelled but unmistakable
    ("text/plain", b"k=v", [("body:k", b"v")]),
])
def test_forms_split_into_fields(ctype, body, expected):
    headers = [("Content-Type", ctype)] if ctype else []
    got = [(l.location, l.data) for l in layers(http(body=body, headers=headers)) if l.part == "body"]
    assert got == expected
    assert all(l.chain == ("form",) for l in layers(http(body=body, headers=headers)) if l.part == "body")


@pytest.mark.parametrize("body", [
    b"this is prose = not a form", b"d3MtZ29mYTcyNw==", b"aGVsbG8=", b"a=1 & b=2", b'{"a": "b=c"}', b"=", b"line1=a\nline2=b",
])
def test_things_that_are_not_forms(body):
    got = [l for l in layers(http(body=body)) if l.part == "body"]
    assert got[0].data == body and not any("form" in l.chain for l in got)


def test_json_labelled_body_is_never_split_as_form():
    got = [l for l in layers(http(body=b"a=1&b=2", headers=[("Content-Type", "application/json")]))
           if l.part == "body"]
    assert [l.data for l in got] == [b"a=1&b=2"]
