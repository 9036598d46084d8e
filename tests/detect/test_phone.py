import pytest

from .helpers import kinds


@pytest.mark.parametrize("text, value", [
    ('"phone": "+33 6 12 34 56 78"', "+33 6 12 34 56 78"),
    ("tel:+14155552671", "+14155552671"),
    ("call +44 (20) 7946-0958 now", "+44 (20) 7946-0958"),
    ("(415) 555-2671", "(415) 555-2671"),
])
def test_phones(text, value):
    assert kinds(text) == [("phone", value)]


@pytest.mark.parametrize("text", [
    "2024-11-05T12:30:45+01:00", "2024-11-05 12:30:45 +0000", "1731000000", "1731000000123",
    "1e+10", "x=+5", "+1.2.3", "ab+1234567890cdEF==",  # a plus inside base64
    "+1111111111", "(123) 456-7890",  # fillers and impossible area codes
    "123e4567-e89b-12d3-a456-426614174000", "v+20.11.1",
])
def test_not_phones(text):
    assert [k for k, _ in kinds(text) if k == "phone"] == []
