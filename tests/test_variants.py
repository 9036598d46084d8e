"""Variants are data: one place says their order, which refuse, what rule a send breaks."""

from auditor import variants
from auditor.scenario import VARIANT_NAMES


def test_one_source_of_truth():
    assert VARIANT_NAMES == variants.NAMES == ("unset", "denied", "dnt", "granted", "ci", "tty", "untrusted-ca")
    assert variants.BASE == "unset"
    assert {n for n, v in variants.BUILTIN.items() if v.refuses} == {"denied", "dnt"}
    assert {n: v.refusal_rule for n, v in variants.BUILTIN.items() if v.refusal_rule} == {
        "denied": "CONSENT-001", "dnt": "CONSENT-002", "ci": "CONSENT-005"}
    assert {n for n, v in variants.BUILTIN.items() if v.notice} == {"unset", "tty"}
    assert variants.get("imported") is None
