"""Built-in consent variants as data: what each changes in env, steps, TTY and CA trust, and what
the rules make of telemetry seen in it. The one place that knows the variants: their order, which
ones refuse, which rule a send there breaks, and which one is the base of repeats and twins."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # scenario.py imports the names from here
    from .identity import Identity
    from .scenario import Consent, Scenario


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    env: tuple[tuple[str, str], ...] = ()
    consent: str = ""  # "denied" | "granted": apply the scenario's consent of that name
    ci: bool = False
    tty: bool = False
    untrusted_ca: bool = False
    # Rules: the finding when data collection still happens here, and why that is wrong.
    refusal_rule: str = ""
    refusal_why: str = ""
    # The user said no: what `unset` sends and this variant does not is gated by consent (telemetry).
    refuses: bool = False
    # The base run: repeats, twins and the opt-out rule (CONSENT-003) are judged on it.
    base: bool = False
    # The user would see the output here: the notice rule (CONSENT-004) is judged on it.
    notice: bool = False


BUILTIN: dict[str, Variant] = {v.name: v for v in (
    Variant("unset", "no consent expressed, stdin closed, no TTY", base=True, notice=True),
    Variant("denied", "the scenario's consent.denied applied", consent="denied", refuses=True,
            refusal_rule="CONSENT-001", refusal_why="sent although the user refused"),
    Variant("dnt", "DO_NOT_TRACK=1 only", env=(("DO_NOT_TRACK", "1"),), refuses=True,
            refusal_rule="CONSENT-002", refusal_why="sent with DO_NOT_TRACK=1 set"),
    Variant("granted", "the scenario's consent.granted applied", consent="granted"),
    Variant("ci", "CI=true and a GitHub Actions environment with canary repository values", ci=True,
            refusal_rule="CONSENT-005", refusal_why="sent by an automated CI run that gave no consent"),
    Variant("tty", "steps under a pseudo-terminal; prompts get scripted answers, else Enter", tty=True,
            notice=True),
    Variant("untrusted-ca", "like unset, but the software is not told to trust the audit CA",
            untrusted_ca=True),
)}
NAMES: tuple[str, ...] = tuple(BUILTIN)  # the order reports compare them in
BASE = next(v.name for v in BUILTIN.values() if v.base)


def get(name: str) -> Variant | None:
    """The built-in variant of a run's `variant` field (None for imported captures)."""
    return BUILTIN.get(name)


def ci_env(identity: Identity) -> dict[str, str]:
    """A typical GitHub Actions environment whose repository and actor are canaries."""
    sha = hashlib.sha1(identity.ci_repository.encode()).hexdigest()
    return {
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": identity.ci_repository,
        "GITHUB_REPOSITORY_OWNER": identity.ci_repository.split("/")[0],
        "GITHUB_ACTOR": identity.ci_actor, "GITHUB_TRIGGERING_ACTOR": identity.ci_actor,
        "GITHUB_SHA": sha, "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main",
        "GITHUB_RUN_ID": str(int(sha[:8], 16)), "GITHUB_RUN_NUMBER": "42",
        "GITHUB_WORKFLOW": "release", "GITHUB_JOB": "build", "GITHUB_EVENT_NAME": "push",
        "GITHUB_SERVER_URL": "https://github.com", "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
        "RUNNER_NAME": "GitHub Actions 7",
    }


def consent_for(variant: Variant, scenario: Scenario) -> Consent | None:
    return getattr(scenario, variant.consent) if variant.consent else None


def variant_env(variant: Variant, scenario: Scenario, identity: Identity) -> dict[str, str]:
    env = dict(variant.env)
    if variant.ci:
        env.update(ci_env(identity))
    consent = consent_for(variant, scenario)
    if consent:
        env.update(dict(consent.env))
    return env


def resolve(names: tuple[str, ...], scenario: Scenario) -> tuple[Variant, ...]:
    """The variants to run: requested ones, else the scenario's, else all applicable."""
    chosen = names or scenario.variants or scenario.applicable_variants()
    return tuple(BUILTIN[n] for n in chosen if n in scenario.applicable_variants())
