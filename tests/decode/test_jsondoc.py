import pytest

from auditor.decode import Layer, Meta
from auditor.decode.jsondoc import classify, paths_at, sniff


@pytest.mark.parametrize("data, kind", [
    (b'{"a": 1}', "json"), (b'  [1, 2]\n', "json"), (b'\xef\xbb\xbf{"a":1}', "json"),
    (b'{"a":1}\n{"a":2}\n', "ndjson"), (b"plain text", ""), (b"{not closed", ""), (b"", ""),
    (b"[INFO] started {x}", ""),
])
def test_sniff(data, kind):
    assert sniff(data) == kind


def test_content_type_says_ndjson_even_for_one_line():
    assert classify(Layer(b'{"a":1}', "body"), Meta("application/x-ndjson")).fmt == "ndjson"


DOC = b'{"batch": [{"host": "H1", "n": 2}, {"host": "H2", "tags": ["x", "Y"]}], "we ird": {"k": "v"}}'


@pytest.mark.parametrize("needle, path", [
    (b"H1", "$.batch[0].host"), (b"H2", "$.batch[1].host"), (b"Y", "$.batch[1].tags[1]"),
    (b"2}", "$.batch[0].n"), (b'"v"', '$["we ird"].k'), (b"we ird", '$["we ird"]'),
])
def test_paths(needle, path):
    layer = Layer(DOC, "body", chain=("json",), fmt="json")
    assert paths_at(layer, [DOC.index(needle)]) == [path]


def test_paths_keep_the_order_of_offsets_given():
    layer = Layer(DOC, "body", chain=("json",), fmt="json")
    assert paths_at(layer, [DOC.index(b"H2"), DOC.index(b"H1")]) == ["$.batch[1].host", "$.batch[0].host"]


def test_ndjson_paths_are_per_line():
    data = b'{"a": "x"}\n{"b": ["y", "zz"]}\n'
    layer = Layer(data, "body", chain=("ndjson",), fmt="ndjson")
    assert paths_at(layer, [data.index(b"zz"), data.index(b"x")]) == ["$[1].b[1]", "$[0].a"]


def test_escaped_quotes_do_not_confuse_the_tokenizer():
    data = b'{"a": "say \\"hi\\", then", "b": "target"}'
    layer = Layer(data, "body", chain=("json",), fmt="json")
    assert paths_at(layer, [data.index(b"target")]) == ["$.b"]


def test_not_json_gives_no_paths():
    assert paths_at(Layer(b"x", "body"), [0]) == [""]
