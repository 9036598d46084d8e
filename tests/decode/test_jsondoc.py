import json
import random
import re

import pytest

from auditor.decode import Layer, Meta
from auditor.decode.jsondoc import classify, paths_at, segment, sniff


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


def _reference_paths(data: bytes, offsets: list[int]) -> list[str]:
    """Every token visited one by one, keys converted on the spot: the plain state machine that
    paths_at's skipping tokenizer must agree with."""
    token = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],]', re.S)

    def key(t):
        try:
            return segment(json.loads(t) if b"\\" in t else t[1:-1].decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return segment(t[1:-1].decode("utf-8", "replace"))

    def path(stack):
        return "$" + "".join(f"[{f[1]}]" if f[0] == "[" else (f[1] or "") for f in stack)

    stack, out, wants = [], [], iter(sorted(offsets))
    want = next(wants, None)
    for m in token.finditer(data):
        t = m.group()
        while want is not None and want < m.end():
            is_key = want >= m.start() and t[:1] == b'"' and stack and stack[-1][0] == "{" and stack[-1][2]
            out.append(path(stack[:-1] + [["{", key(t), False]]) if is_key else path(stack))
            want = next(wants, None)
        if t == b"{":
            stack.append(["{", None, True])
        elif t == b"[":
            stack.append(["[", 0])
        elif t in (b"}", b"]"):
            if stack:
                stack.pop()
        elif t == b",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
            elif stack:
                stack[-1][1], stack[-1][2] = None, True
        elif stack and stack[-1][0] == "{" and stack[-1][2]:
            stack[-1][1], stack[-1][2] = key(t), False
    while want is not None:
        out.append(path(stack))
        want = next(wants, None)
    return out


@pytest.mark.parametrize("data", [
    DOC,
    b'{"a": "x, y}", "b": ["}", "]", {"c": "\\"{"}], "d": 1}',  # structure inside strings
    b'{"a": "unterminated, "b": [1, 2]}',  # a string that runs into the next key
    b'{"a" "b": 1, "c": {"d": "e"}}',  # a key with no colon
    b'{"a": "x\\', b'{"a": ["b", "c"', b'"loose" {"a": 1} ["x"]', b'{{}"a": [,], "b": 2}',
    b'{"k\\u00e9y": {"x y": ["v", {"z": "w"}]}}',
])
def test_skipping_tokenizer_agrees_with_visiting_every_token(data):
    layer = Layer(data, "body", chain=("json",), fmt="json")
    offsets = list(range(len(data) + 1))
    assert paths_at(layer, offsets) == _reference_paths(data, offsets)


def test_skipping_tokenizer_agrees_on_random_documents():
    rng = random.Random(4)
    alphabet = b'{}[],:" \\ab\n0'
    for _ in range(3000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        offsets = sorted(rng.randrange(len(data) + 1) for _ in range(3))
        assert paths_at(Layer(data, "body", fmt="json"), offsets) == _reference_paths(data, offsets), data
