"""The consent catalog: documented ways to opt out of (and into) the telemetry of 152 products.

Derived from toptout (https://github.com/beatcracker/toptout, MIT licence, Copyright (c) 2019
beatcracker; the licence text is data/toptout-LICENSE.txt) by scripts/build_optouts.py. These are
claims from documentation, never evidence: `init --tool` uses them to fill a scenario's consent,
and the report says when a documented opt-out did not hold.
"""

from __future__ import annotations

import functools
import json
import shlex
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    executables: tuple[str, ...]
    category: str
    homepage: str
    telemetry_doc: str
    channels: tuple[dict, ...]

    def merged(self, which: str) -> tuple[dict[str, str], list[str]]:
        """Env and commands of every channel for `opt_out` or `opt_in` (all of a tool's telemetry)."""
        env: dict[str, str] = {}
        run: list[str] = []
        for ch in self.channels:
            env.update(ch[which]["env"])
            run += [c for c in ch[which]["run"] if c not in run]
        return env, run

    @property
    def other_ways(self) -> list[str]:
        return [o for ch in self.channels for o in ch["other"]]


@functools.cache
def catalog() -> tuple[Product, ...]:
    doc = json.loads(resources.files("auditor").joinpath("data/optouts.json").read_text(encoding="utf-8"))
    return tuple(Product(p["id"], p["name"], tuple(p["executables"]), p["category"], p["homepage"],
                         p["telemetry_doc"], tuple(p["channels"])) for p in doc["products"])


def _norm(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def find(tool: str) -> Product | None:
    """A product by id, name or executable, ignoring case and punctuation ("Next.js" = "nextjs")."""
    want = _norm(tool)
    if not want:
        return None
    for p in catalog():
        if want in (_norm(p.id), _norm(p.name), *map(_norm, p.executables)):
            return p
    return None


def suggestions(tool: str, n: int = 5) -> list[str]:
    want = _norm(tool)
    return [p.id for p in catalog() if want and (want in _norm(p.id) or want in _norm(p.name))][:n]


def promise(variant: str, how: dict | None, software: str) -> str:
    """What the documentation promises for this refusal, when the catalog knows it: "" otherwise.

    denied: the scenario's consent.denied uses a documented opt-out (a variable or command of a
    product, preferring the product named by software.name); dnt: the product documents
    DO_NOT_TRACK."""
    named = find(software) if software else None
    if variant == "dnt":
        if named and "DO_NOT_TRACK" in named.merged("opt_out")[0]:
            return f"{named.name} documents DO_NOT_TRACK=1 as an opt-out ({_doc(named)})"
        return ""
    if variant != "denied" or not how:
        return ""
    env = {k: str(v) for k, v in (how.get("env") or {}).items()}
    runs = [" ".join(shlex.split(c)) if c.strip() else c for c in how.get("run") or ()]
    candidates = [named] if named else []
    candidates += [p for p in catalog() if p is not named]
    for p in candidates:
        docs_env, docs_run = p.merged("opt_out")
        used = [f"{k}={v}" for k, v in env.items() if k in docs_env and k != "DO_NOT_TRACK"]
        used += [c for c in runs if any(c.endswith(d) or d.endswith(c) for d in docs_run)]
        if used:
            return f"the documented opt-out {', '.join(used)} of {p.name} ({_doc(p)})"
    return ""


def _doc(p: Product) -> str:
    return f"{p.telemetry_doc or p.homepage}; consent catalog from toptout"


def scaffold(name: str, p: Product) -> str:
    """A scenario file for a catalogued tool, its documented consent filled in."""
    denied_env, denied_run = p.merged("opt_out")
    granted_env, granted_run = p.merged("opt_in")
    lines = [
        "schema_version: 1",
        f"name: {name}",
        f"description: Install and first run of {p.name}",
        f"software: {{name: {json.dumps(p.name)}, homepage: {json.dumps(p.homepage)}}}",
        "steps:",
        "  - name: install",
        f"    run: pip install {name}          # or npm install …: how {p.name} is installed",
        "    timeout: 300",
        "  - name: first-use",
        f"    run: {p.executables[0] if p.executables else name} --help",
        "    expect_exit: any",
        f"# Documented consent of {p.name} ({p.telemetry_doc or p.homepage}),",
        "# from the consent catalog (toptout, MIT licence). A claim of the documentation: the audit checks it.",
        "consent:",
    ]
    for key, env, run in (("denied", denied_env, denied_run), ("granted", granted_env, granted_run)):
        if env:
            lines.append(f"  {key}: {{env: {{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in env.items()) + "}}")
            lines += [f"  #   or {key}: {{run: [{json.dumps(c)}]}}" for c in run]
        elif run:
            # Consent commands run before the steps: the tool must exist by then.
            lines.append(f"  {key}: {{run: [" + ", ".join(json.dumps(c) for c in run) + "]}  # runs before the "
                         "steps: install the tool in this command if it needs the tool")
    if not (denied_env or denied_run or granted_env or granted_run):
        lines[-1] = "# consent: the catalog knows no variable or command for it"
    lines += [f"# Other documented ways: {' '.join(o.split())[:200]}" for o in p.other_ways[:5]]
    lines += [
        "network:",
        '  allow: ["@pip-index"]',
        "expect:",
        "  telemetry: []       # documented telemetry endpoints (host or host/path glob)",
        "  functional: []      # declared non-telemetry egress, e.g. an update check",
        "repeat: 2",
    ]
    return "\n".join(lines) + "\n"
