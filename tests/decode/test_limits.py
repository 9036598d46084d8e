import base64
import gzip
import time

import pytest

from auditor.decode import Layer, Limits, layers

from .helpers import http


def nested_base64(depth):
    data = b'{"deep": "value"}'
    for _ in range(depth):
        data = b'{"x": "' + base64.b64encode(data) + b'"}'
    return data


def test_depth_limit_stops_with_a_note():
    notes = []
    got = list(layers(http(body=nested_base64(12)), Limits(max_depth=4), notes))
    assert max(len(l.chain) for l in got) <= 2 * 4 + 1
    assert any("max_depth" in n for n in notes)


def test_layer_count_limit():
    body = b"\n".join(b'"' + base64.b64encode(b"text number %d here" % i) + b'"' for i in range(50))
    notes = []
    got = list(layers(http(body=body), Limits(max_layers=10), notes))
    assert len(got) == 10 and any("max_layers" in n for n in notes)


def test_oversized_layer_is_truncated_with_a_note():
    notes = []
    got = [l for l in layers(http(body=b"a" * 5000), Limits(max_layer_bytes=1000), notes) if l.part == "body"]
    assert len(got[0].data) == 1000 and any("max_layer_bytes" in n for n in notes)


def test_deep_nesting_is_fast():
    start = time.perf_counter()
    list(layers(http(body=nested_base64(30))))
    assert time.perf_counter() - start < 2


def test_location():
    assert Layer(b"", "body", "$.a").location == "body:$.a"
    assert Layer(b"", "url").location == "url"


# ---- budgets (issue 8): every limit reached is recorded as "not inspected" ----------------------

from auditor.decode import Budget, Ctx, scanned  # noqa: E402


def walk(ex, limits=Limits(), budget=None):
    ctx = Ctx(limits, [], budget=budget)
    got = [layer for layer, _ in scanned(ex, limits, ctx.notes, ctx=ctx)]
    return got, ctx


def many_small_bombs(n):
    runs = b",".join(b'"' + base64.b64encode(gzip.compress(b"%04d" % i + b"\0" * (1 << 20))) + b'"' for i in range(n))
    return b'{"x":[' + runs + b"]}"


def test_many_small_bombs_stop_at_the_exchange_budget():
    got, ctx = walk(http(body=many_small_bombs(40)), Limits(max_exchange_bytes=8 << 20))
    assert sum(len(l.data) for l in got) <= 8 << 20
    assert ctx.limited and "max_exchange_bytes" in ctx.limited[-1]


def test_a_cut_bomb_is_a_limit_not_only_a_note():
    body = gzip.compress(b"\0" * (4 << 20))
    _, ctx = walk(http(body=body, headers=[("Content-Encoding", "gzip")]), Limits(max_layer_bytes=1 << 20))
    assert any("gzip output cut" in x for x in ctx.limited)


@pytest.mark.parametrize("limits, body, which", [
    (Limits(max_depth=4), nested_base64(12), "max_depth"),
    (Limits(max_layer_bytes=1000), b"a" * 5000, "max_layer_bytes"),
    (Limits(max_layers=10), b"\n".join(b'"' + base64.b64encode(b"text number %d here" % i) + b'"'
                                       for i in range(50)), "max_layers"),
])
def test_each_limit_is_recorded_as_not_inspected(limits, body, which):
    _, ctx = walk(http(body=body), limits)
    assert any(which in x for x in ctx.limited), ctx.limited


def test_the_time_limit_stops_the_walk():
    _, ctx = walk(http(body=nested_base64(6)), Limits(max_seconds=0))
    assert ctx.limited and "max_seconds" in ctx.limited[0]


def test_a_spent_run_budget_inspects_nothing_more():
    budget = Budget(bytes_left=10)
    got, ctx = walk(http(body=b"x" * 100), budget=budget)
    assert ctx.limited and "budget" in ctx.limited[0]
    ctx.settle()
    assert budget.bytes_left <= 10


def test_an_exchange_within_its_limits_records_nothing():
    got, ctx = walk(http(body=nested_base64(3)))
    assert got and ctx.limited == [] and ctx.decoded_bytes > 0
