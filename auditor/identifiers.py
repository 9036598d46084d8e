"""What each sent identifier follows, from every run of a scenario.

Every run starts from a fresh HOME (steps of one run share it; a `repeat` rerun reuses one) and
the twin runs change one part of the canary identity each (machine, user, project). So every run
is an experiment on the same program, and for each identifier field (request key + location):

* the same value in two runs with different HOMEs does not depend on the HOME; a twin run that
  sends a different value shows the part it changed is what the value follows: the machine
  (PRIV-003), the person (PRIV-003), the project (CONF-003). Unchanged in every twin: a constant
  shipped in the program (a vendor API key), no finding;
* a value that differs between fresh HOMEs but recurs within one (sent by two invocations — a step
  began or ended between the sends —, or by a rerun with the same HOME) or is found in a file the
  run left in HOME is a stored tracking id (PRIV-004);
* a value seen once and never again is a per-request or per-process id: not a tracker.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import variants
from .findings import looks_like_id
from .homefiles import where_stored
from .identity import TWIN_PARTS
from .inspection import Field, slots

if TYPE_CHECKING:
    from .rules import ExchangeFacts, RunFacts

# Standard headers never carry an id of their own (a User-Agent is stable but not a tracker).
_PLAIN_HEADERS = {"user-agent", "content-type", "content-encoding", "content-length", "accept",
                  "accept-encoding", "accept-language", "host", "connection", "date", "te"}


# A digest of the machine's own values sent as an id (sha256 of the machine-id) is a finding of its
# own (PRIV-002) and a machine fingerprint too (PRIV-003): it stays a candidate.
MACHINE_KEYS = frozenset({"machine_id", "real_machine_id", "mac", "real_mac", "hostname", "real_hostname"})


def candidates(fields: dict[str, Field], evidence) -> dict[str, str]:
    """Id-like values of one exchange by location (array slots as [*]), leaving out what a detector
    already reported (a canary or its digest is a finding of its own), except a digest of the
    machine's values."""
    found: dict[str, str] = {}
    matched = {slots(e.location) for e in evidence
               if not (e.is_digest and e.match.removeprefix("digest-of:") in MACHINE_KEYS)}
    for loc, f in fields.items():
        if loc.startswith("header:") and f.key.lower() in _PLAIN_HEADERS:
            continue
        if loc not in matched and looks_like_id(f.value):
            found[loc] = f.value
    return found


# Verdicts that mean "this value identifies something beyond one request" (fail-safe: "unknown",
# a value seen in one run only, counts until shown to be a nonce).
TRACKING = frozenset({"machine", "user", "project", "stable", "stored", "unknown"})


@dataclass(frozen=True)
class Verdict:
    key: str  # request key (classify.request_key)
    location: str
    kind: str  # machine | user | project | stable (not attributed) | stored | constant | nonce | unknown
    confidence: str
    value: str  # the value judged (never printed: reports get a masked excerpt)
    run: RunFacts  # where it was first seen, preferring a base run
    x: ExchangeFacts
    homes: int = 1  # fresh HOMEs that sent this value
    follows: tuple[str, ...] = ()  # identity parts whose twin changed it
    stored_in: tuple[str, ...] = ()  # files the runs left in HOME that hold it
    detail: str = ""

    def describe(self) -> str:
        """One line for the endpoint evidence of the report."""
        what = {"machine": "machine fingerprint", "user": "follows the user", "project": "project fingerprint",
                "stable": "identical across fresh HOMEs (not attributed)", "stored": "stored tracking id",
                "constant": "constant shipped in the program", "nonce": "new in every request or run",
                "unknown": "seen once (cannot tell)"}[self.kind]
        where = f", in {self.stored_in[0]}" if self.stored_in else ""
        return f"{self.location}: {what}{where}"


@dataclass
class _Seen:
    values: dict[str, dict[str, list[float]]]  # run name -> value -> when it was sent
    first: dict[str, tuple[RunFacts, ExchangeFacts]]  # value -> where first seen


def attribute(runs: list[RunFacts], constants: dict[tuple[str, str], str] | None = None) -> list[Verdict]:
    """A verdict per identifier field of one scenario's runs. `constants`: fields a recognised
    protocol names as vendor keys (key, location) -> protocol, judged constant without twins."""
    # A machine twin changes the machine only where the sandbox plants the machine's values (full
    # capture): elsewhere it would pass a machine fingerprint off as a constant.
    blind = [r for r in runs if r.twin == "machine" and "machine_id" not in r.planted]
    runs = [r for r in runs if r not in blind]
    by_name = {r.run: r for r in runs}
    seen: dict[tuple[str, str], _Seen] = defaultdict(lambda: _Seen(defaultdict(lambda: defaultdict(list)), {}))
    # Base runs first, in variant order, so that a finding points at the plain run.
    order = {name: i for i, name in enumerate(variants.NAMES)}
    for r in sorted(runs, key=lambda r: (bool(r.twin), order.get(r.variant, len(order)), r.run)):
        for x in sorted(r.exchanges, key=lambda x: x.ex.timestamp):
            for loc, value in x.identifiers.items():
                s = seen[(x.key, loc)]
                s.values[r.run][value].append(x.ex.timestamp)
                s.first.setdefault(value, (r, x))
    out = []
    note = "the machine twin could not change the machine (its machine-id is not planted in this capture mode)" \
        if blind else ""
    for (key, loc), s in seen.items():
        v = _judge(key, loc, s, by_name, (constants or {}).get((key, loc), ""), note)
        if v is not None:
            out.append(v)
    return out


def _judge(key: str, loc: str, s: _Seen, runs: dict[str, RunFacts], protocol: str, note: str) -> Verdict | None:
    homes: dict[str, set[str]] = defaultdict(set)  # value -> HOMEs that sent it
    for run, values in s.values.items():
        for value in values:
            homes[value].add(runs[run].home)
    shared = [v for v, h in homes.items() if len(h) >= 2]
    # A value is searched in the files of the runs that sent it only: where it could be stored.
    stored = {v: tuple(dict.fromkeys(p for run, values in s.values.items() if v in values
                                     for p in where_stored(v, runs[run].stored)))
              for v in homes}
    if protocol:
        value = next(iter(homes))
        return _verdict(key, loc, "constant", "certain", value, s, homes, stored, detail=f"{protocol} key")
    if shared:
        value = max(shared, key=lambda v: len(homes[v]))
        follows, unchanged = [], []
        for part in TWIN_PARTS:
            twins = [run for run in s.values if runs[run].twin == part]
            if not twins:
                continue
            (unchanged if any(value in s.values[t] for t in twins) else follows).append(part)
        if follows:
            return _verdict(key, loc, follows[0], "certain", value, s, homes, stored, follows=tuple(follows))
        missing = [p for p in TWIN_PARTS if p not in unchanged]
        if not missing:
            return _verdict(key, loc, "constant", "certain", value, s, homes, stored)
        if missing == ["project"]:
            return _verdict(key, loc, "project", "likely", value, s, homes, stored,
                            detail="unchanged with another machine and user; no project twin sent it")
        why = note if note and missing == ["machine"] else f"no {' or '.join(missing)} twin run sent this field"
        return _verdict(key, loc, "stable", "likely", value, s, homes, stored, detail=why)
    # Every value belongs to one HOME: stored there, or new each time.
    for value, h in homes.items():
        home = next(iter(h))
        runs_in_home = [run for run in s.values if value in s.values[run]]
        places = []
        if len(runs_in_home) >= 2:
            places.append("sent again by a run that kept the same HOME")
        if any(runs[run].processes_between(min(ts), max(ts)) for run in runs_in_home
               for ts in [s.values[run][value]]):
            places.append("sent by two invocations of one run")
        if stored[value]:
            places.append(f"stored in {', '.join(stored[value][:3])}")
        if places:
            others = len(homes) >= 2
            why = "; ".join(places) + (f"; a different value in each of {len(homes)} fresh HOMEs" if others
                                       else f"; seen in one HOME ({home}) only")
            return _verdict(key, loc, "stored", "certain" if others else "likely", value, s, homes, stored,
                            detail=why[0].upper() + why[1:])
    value = next(iter(homes))
    return _verdict(key, loc, "nonce" if len(homes) >= 2 else "unknown", "likely", value, s, homes, stored)


def _verdict(key, loc, kind, confidence, value, s: _Seen, homes, stored, follows=(), detail="") -> Verdict:
    run, x = s.first[value]
    return Verdict(key, loc, kind, confidence, value, run, x, len(homes[value]), follows, stored[value], detail)
