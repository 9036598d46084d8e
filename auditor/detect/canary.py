"""Canary matching: every form of every identity value, one multi-literal pass per layer."""

from __future__ import annotations

from dataclasses import dataclass

from ..decode.multiscan import LiteralSet
from ..findings import digest
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
        # What a hit of each entry reports, worked out once rather than per hit:
        # (key, form, pattern when the form is plain (its case is reported), confidence, guessed, category).
        self._report = []
        for f, guessed in self._entries:
            confident = not guessed and len(f.source) >= 8 and f.key != "real_hostname"
            plain = f.pattern if f.form.partition(":")[0] == "plain" else None
            self._report.append((f.key, f.form, plain, "certain" if confident else "likely", guessed,
                                 category(f.key)))
        self._digests = {key: digest(value) for key, value in self.values.items()}

    def __len__(self) -> int:
        return len(self._entries)

    def value_digest(self, key: str) -> str:
        """sha256 of an identity value, as Evidence.value_digest reports it."""
        return self._digests[key]

    def find(self, data: bytes) -> list[CanaryHit]:
        raw = self._set.scan(data)
        if not raw:
            return []
        report = self._report
        hits = []
        cats = []
        for idx, start, end in raw:
            key, form, plain, confidence, guessed, cat = report[idx]
            if plain is not None:
                form = _case_form(form, plain, data[start:end])
            hits.append(CanaryHit(key, form, start, end, confidence, guessed))
            cats.append(cat)
        if len(hits) == 1:
            return hits
        return _outermost(hits, cats)


def _outermost(hits: list[CanaryHit], cats: list[str]) -> list[CanaryHit]:
    """Drop a hit inside a longer hit of the same category: the fqdn, not also its hostname; the
    git remote, not also its owner/repo. A personal value inside a confidential one (the user
    name inside a project path) is a separate fact and stays. cats[i]: category of hits[i]'s key."""
    order = sorted(range(len(hits)), key=lambda i: (hits[i].start, hits[i].start - hits[i].end))
    kept: list[CanaryHit] = []
    active: list[tuple[CanaryHit, str]] = []  # kept hits that may still contain later ones
    for i in order:
        h, cat = hits[i], cats[i]
        active = [(k, kc) for k, kc in active if k.end > h.start]
        if any(h.end <= k.end and kc == cat for k, kc in active):
            continue
        kept.append(h)
        active.append((h, cat))
    return kept
