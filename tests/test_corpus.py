"""Recall and precision of decode+detect on the labelled corpus (tests/corpus/generate.py).

A prediction is a (detector, match) pair reported for a flow; it is right when that flow's labels
contain it. Per-flow sets, so one planted value reported at two places counts once.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from auditor.detect import Matcher, scan

_spec = importlib.util.spec_from_file_location("corpus_generate", Path(__file__).parent / "corpus" / "generate.py")
generate = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = generate  # dataclasses look their module up there
_spec.loader.exec_module(generate)


@pytest.fixture(scope="module")
def scores():
    corpus = generate.build()
    matcher = Matcher(generate.identity())
    per = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    misses = []
    for case in corpus:
        got = {(e.detector, e.match) for e in scan(case.exchange, matcher)}
        tp, fp, fn = got & case.expected, got - case.expected, case.expected - got
        s = per[case.encoding]
        s[0] += len(tp)
        s[1] += len(fp)
        s[2] += len(fn)
        if fp or fn:
            misses.append((case.encoding, case.exchange.id, sorted(fp), sorted(fn)))
    return corpus, dict(per), misses


def _ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def test_corpus_shape(scores):
    corpus, _, _ = scores
    assert len(corpus) >= 200
    assert {c.encoding for c in corpus} == set(generate.ENCODINGS)
    assert sum(1 for c in corpus if not c.expected) >= 20  # flows with decoys only


def test_recall_and_precision(scores, capsys):
    _, per, misses = scores
    lines = [f"{'encoding':<12} {'recall':>7} {'precision':>9}  (tp/fp/fn)"]
    for enc, (tp, fp, fn) in sorted(per.items()):
        lines.append(f"{enc:<12} {_ratio(tp, tp + fn):>7.3f} {_ratio(tp, tp + fp):>9.3f}  ({tp}/{fp}/{fn})")
    tp, fp, fn = (sum(v[i] for v in per.values()) for i in range(3))
    recall, precision = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
    lines.append(f"{'overall':<12} {recall:>7.3f} {precision:>9.3f}  ({tp}/{fp}/{fn})")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
        for m in misses[:20]:
            print("  miss:", m)
    assert recall >= 0.95 and precision >= 0.95
    for enc, (tp, fp, fn) in per.items():
        assert _ratio(tp, tp + fn) >= 0.85, enc
        assert _ratio(tp, tp + fp) >= 0.85, enc
