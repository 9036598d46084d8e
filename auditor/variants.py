"""Built-in consent variants as data: what each changes in env, steps, TTY and CA trust."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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


BUILTIN: dict[str, Variant] = {v.name: v for v in (
    Variant("unset", "no consent expressed, stdin closed, no TTY"),
    Variant("denied", "the scenario's consent.denied applied", consent="denied"),
    Variant("dnt", "DO_NOT_TRACK=1 only", env=(("DO_NOT_TRACK", "1"),)),
    Variant("granted", "the scenario's consent.granted applied", consent="granted"),
    Variant("ci", "CI=true and a GitHub Actions environment with canary repository values", ci=True),
    Variant("tty", "steps under a pseudo-terminal; prompts get scripted answers, else Enter", tty=True),
    Variant("untrusted-ca", "like unset, but the software is not told to trust the audit CA",
            untrusted_ca=True),
)}


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
    if variant.consent == "denied":
        return scenario.denied
    if variant.consent == "granted":
        return scenario.granted
    return None


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
