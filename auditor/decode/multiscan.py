"""One pass of many patterns over a buffer: hyperscan where it exists, Python `re` otherwise.

Measured on this project's machine (docs/detection.md): hyperscan scans ~3,900 MB/s where a
pure-Python loop of regexes manages 14-50 MB/s, so every detector and every "is something encoded
here?" question is asked through one compiled database per concern. The `re` backend exists for
platforms without a hyperscan wheel (Linux aarch64); it gives the same answers, slower.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Sequence

try:  # pragma: no cover - exercised by whichever backend the machine has
    import hyperscan as _hs
except ImportError:  # pragma: no cover
    _hs = None

HAVE_HYPERSCAN = _hs is not None


@dataclass(frozen=True)
class Pattern:
    """A regex in two dialects.

    `hs` may end in a delimiter class (hyperscan has no look-around) so that a run is reported
    once, at its end, rather than at every position inside it; `py` is the same run for `re`.
    """

    hs: bytes
    py: bytes
    caseless: bool = False


Hit = tuple[int, int, int]  # (pattern index, start, end)


class _Scratch(threading.local):
    """Hyperscan scratch space is per scanning thread: sharing one raises "scratch in use"."""

    def __init__(self, db):
        self.space = _hs.Scratch(db)


class PatternSet:
    """Regex patterns with start offsets (SOM), scanned together."""

    def __init__(self, patterns: Sequence[Pattern], backend: str = "auto"):
        self.patterns = tuple(patterns)
        self.backend = "hyperscan" if backend == "auto" and HAVE_HYPERSCAN else (
            "re" if backend == "auto" else backend)
        if self.backend == "hyperscan":
            self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
            flags = [_hs.HS_FLAG_SOM_LEFTMOST | (_hs.HS_FLAG_CASELESS if p.caseless else 0)
                     for p in self.patterns]
            self._db.compile(expressions=[p.hs for p in self.patterns],
                             ids=list(range(len(self.patterns))), flags=flags)
            self._scratch = _Scratch(self._db)
        else:
            self._res = [re.compile(p.py, re.I if p.caseless else 0) for p in self.patterns]

    def scan(self, data: bytes) -> list[Hit]:
        if not data:
            return []
        out: list[Hit] = []
        if self.backend == "hyperscan":
            self._db.scan(data, lambda i, s, e, f, c: out.append((i, s, e)), scratch=self._scratch.space)
        else:
            for i, rx in enumerate(self._res):
                out.extend((i, m.start(), m.end()) for m in rx.finditer(data))
        return out


class LiteralSet:
    """Many literal strings (canary forms) found anywhere, overlapping matches included."""

    def __init__(self, literals: Sequence[tuple[bytes, bool]], backend: str = "auto"):
        self.literals = tuple(literals)  # (bytes, caseless)
        self.backend = "hyperscan" if backend == "auto" and HAVE_HYPERSCAN else (
            "re" if backend == "auto" else backend)
        if not self.literals:
            self.backend = "empty"
        elif self.backend == "hyperscan":
            self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
            self._db.compile(expressions=[lit for lit, _ in self.literals],
                             ids=list(range(len(self.literals))),
                             flags=[_hs.HS_FLAG_CASELESS if c else 0 for _, c in self.literals],
                             literal=True)
            self._scratch = _Scratch(self._db)
            self._lens = [len(lit) for lit, _ in self.literals]  # a literal's start is its end minus this
        else:
            self._index: dict[tuple[bytes, bool], int] = {}
            for i, (lit, c) in enumerate(self.literals):
                self._index.setdefault((lit.lower() if c else lit, c), i)
            # Longest first so an alternation prefers the whole value over a shorter form of it.
            order = sorted(self.literals, key=lambda lc: -len(lc[0]))
            self._res = []
            for caseless in (False, True):
                alts = [re.escape(lit) for lit, c in order if c is caseless]
                if alts:
                    self._res.append((caseless, re.compile(b"|".join(alts), re.I if caseless else 0)))

    def scan(self, data: bytes) -> list[Hit]:
        if not data or self.backend == "empty":
            return []
        out: list[Hit] = []
        if self.backend == "hyperscan":
            lens = self._lens
            self._db.scan(data, lambda i, s, e, f, c: out.append((i, e - lens[i], e)),
                          scratch=self._scratch.space)
            return out
        for caseless, rx in self._res:
            for m in rx.finditer(data):
                key = (m.group().lower() if caseless else m.group(), caseless)
                out.append((self._index[key], m.start(), m.end()))
        return out
