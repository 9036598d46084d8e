"""Canary matching: every form of every identity value, one multi-literal pass per layer."""

from __future__ import annotations

from dataclasses import dataclass

from ..decode.multiscan import LiteralSet
from ..identity import Identity, category
from .forms import Form, forms_of, guessed_digests


@dataclass(frozen=True)
class CanaryHit:
    key: str
    form: str
    start: int
    end: int
    confidence: str
    guessed: bool = False  # a digest of a guessed variant: reported as heuristic digest-of:<key>


def _case_form(form: str, pattern: bytes, text: bytes) -> str:
    """A caseless plain match says which case it was found in."""
    base, sep, nf = form.partition(":")
    if base != "plain" or text == pattern:
        return form
    case = "lower" if text == pattern.lower() else "upper" if text == pattern.upper() else "mixed-case"
    return case + sep + nf


class Matcher:
    """Built once per identity: one automaton over all forms of all values."""

    def __init__(self, identity: Identity, backend: str = "auto"):
        self.values = identity.values()
        home = self.values.get("home", "")
        entries: dict[tuple[bytes, bool], tuple[Form, bool]] = {}
        for key, value in self.values.items():
            taken = frozenset(v.lower() for k, v in self.values.items() if k != key and v)
            guessed = guessed_digests(key, value) if category(key) == "confidential" else []
            for f, is_guess in [(f, False) for f in forms_of(key, value, home, taken)] + \
                    [(f, True) for f in guessed]:
                norm = (f.pattern.lower() if f.caseless else f.pattern, f.caseless)
                entries.setdefault(norm, (f, is_guess))  # first (most direct) form wins
        self._entries = list(entries.values())
        self._set = LiteralSet([(f.pattern, f.caseless) for f, _ in self._entries], backend)

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, data: bytes) -> list[CanaryHit]:
        raw = self._set.scan(data)
        if not raw:
            return []
        hits = []
        for idx, start, end in raw:
            f, guessed = self._entries[idx]
            confident = not guessed and len(f.source) >= 8 and f.key != "real_hostname"
            hits.append(CanaryHit(f.key, _case_form(f.form, f.pattern, data[start:end]), start, end,
                                  "certain" if confident else "likely", guessed))
        return _outermost(hits)


def _outermost(hits: list[CanaryHit]) -> list[CanaryHit]:
    """Drop a hit inside a longer hit of the same category: the fqdn, not also its hostname; the
    git remote, not also its owner/repo. A personal value inside a confidential one (the user
    name inside a project path) is a separate fact and stays."""
    hits.sort(key=lambda h: (h.start, h.start - h.end))
    kept: list[CanaryHit] = []
    active: list[CanaryHit] = []  # kept hits that may still contain later ones
    for h in hits:
        active = [k for k in active if k.end > h.start]
        cat = category(h.key)
        if any(h.end <= k.end and category(k.key) == cat for k in active):
            continue
        kept.append(h)
        active.append(h)
    return kept
