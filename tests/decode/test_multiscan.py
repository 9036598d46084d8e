import pytest

from auditor.decode.multiscan import HAVE_HYPERSCAN, LiteralSet, Pattern, PatternSet

BACKENDS = ["re"] + (["hyperscan"] if HAVE_HYPERSCAN else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_literals_case_and_overlaps(backend):
    ls = LiteralSet([(b"abc", True), (b"abcdef", False), (b"XyZ", False)], backend)
    hits = sorted(ls.scan(b"..ABCdef..abcdef..xyz..XyZ"))
    spans = {(i, s, e) for i, s, e in hits}
    assert (0, 2, 5) in spans and (0, 10, 13) in spans and (1, 10, 16) in spans and (2, 23, 26) in spans
    assert (2, 18, 21) not in spans  # case-sensitive literal


@pytest.mark.parametrize("backend", BACKENDS)
def test_patterns_give_start_offsets(backend):
    ps = PatternSet([Pattern(rb"ab+c", rb"ab+c"), Pattern(rb"x\d", rb"x\d", caseless=True)], backend)
    assert sorted(ps.scan(b"zzabbbc X9")) == [(0, 2, 7), (1, 8, 10)]


def test_empty_inputs():
    assert LiteralSet([]).scan(b"abc") == []
    assert PatternSet([Pattern(b"a", b"a")]).scan(b"") == []


def test_threads_can_share_a_pattern_set():
    from concurrent.futures import ThreadPoolExecutor
    ls = LiteralSet([(b"needle", False)])
    data = b"hay " * 50000 + b"needle"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ls.scan(data), range(16)))
    assert all(r == [(0, 200000, 200006)] for r in results)
