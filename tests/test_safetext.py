"""Captured text on a terminal: escaped, never obeyed, never markup."""

import pytest
from auditor.safetext import clip, is_host_name, printable


@pytest.mark.parametrize("raw, shown", [
    ("plain.example", "plain.example"),
    ("evil\x1b[31m.example", "evil\\x1b[31m.example"),
    ("a\nb", "a\\x0ab"),
    ("csi\x9b2J", "csi\\x9b2J"),
    ("bidi\u202eexe.txt", "bidi\\u202eexe.txt"),
    ("lone\udcff", "lone\\udcff"),
    ("tab\there", "tab\\x09here"),
])
def test_printable_escapes_controls(raw, shown):
    assert printable(raw) == shown
    assert printable(printable(raw)) == shown  # idempotent


def test_clip_counts_what_was_cut():
    assert clip("x" * 10, 4) == "xxxx… (+6 chars)"


@pytest.mark.parametrize("host, ok", [
    ("telemetry.example", True), ("a-b.c_d.example.", True), ("198.51.100.7", True), ("2001:db8::1", True),
    ("x\nallowed.example", False), ("a b.example", False), ("evil\x1b[31m.example", False),
    ("a[b.example", False), ("-lead.example", False), ("", False), ("a" * 64 + ".example", False),
])
def test_is_host_name(host, ok):
    assert is_host_name(host) is ok
