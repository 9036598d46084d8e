import pytest

from auditor.detect.card import luhn

from .helpers import kinds


@pytest.mark.parametrize("text, confidence", [
    ("card 4539 1488 0343 6467 exp", "likely"),
    ('"pan": "5425-2334-3010-9903"', "likely"),
    ('"n": "4539148803436467"', "possible"),
    ("amex 3782 822463 10005", "likely"),
])
def test_cards(text, confidence):
    from auditor.detect import heuristic_hits
    hits = [h for h in heuristic_hits(text.encode()) if h.match == "card"]
    assert [h.confidence for h in hits] == [confidence]


@pytest.mark.parametrize("text", [
    "4539 1488 0343 6468",  # Luhn fails
    "4111 1111 1111 1111",  # the famous test number: too few distinct digits to be a real card
    "1731000000123",  # a millisecond timestamp
    "9223372036854775807", "4839201928374650123",  # 64-bit ints
    "1234567812345670",  # passes Luhn, no issuer
    "3.14159265358979323", "+4539148803436467", "4539-1488 0343 6467",
    "a4539148803436467", "uuid 45391488-0343-6467-0000-000000000000",
])
def test_not_cards(text):
    assert [k for k, _ in kinds(text) if k == "card"] == []


def test_luhn():
    assert luhn(b"79927398713") and not luhn(b"79927398710")
