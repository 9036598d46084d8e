"""Regenerate auditor/data/optouts.json from a checkout of the toptout data files.

    python scripts/build_optouts.py PATH/TO/toptout/data [--snapshot 2023-02-19]

toptout (https://github.com/beatcracker/toptout, MIT licence, © 2019 beatcracker) documents, per
product, the environment variables, commands and config files that opt out of (or into) its
telemetry. egress-auditor ships the environment variables and commands (what a scenario's
`consent.denied` / `consent.granted` can use) and names the rest as text. Keep the attribution and
auditor/data/toptout-LICENSE.txt with the file.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "auditor" / "data" / "optouts.json"
SCOPES = ("process", "user", "machine")  # the most local first: it needs no privileges


def _scoped(target: dict, kind: str):
    """(path, value) of an env or exec target in each scope, the most local first."""
    for scope in SCOPES:
        body = (target.get(kind) or {}).get("scope", {}).get(scope)
        if body:
            yield body["path"].get("linux") or body["path"].get("default"), body["value"]


def _env(target: dict, which: str) -> dict[str, str]:
    return {name: str(value[which]) for name, value in _scoped(target, "env")
            if name and value.get(which) is not None}


def _run(target: dict, which: str) -> list[str]:
    for exe, value in _scoped(target, "exec"):
        if exe and value.get(which):
            return [shlex.join([exe, *map(str, value[which])])]
    return []


def _other(target: dict) -> list[str]:
    out = [f"{n['name']}: {n['description']}".strip() for n in target.get("noop") or () if isinstance(n, dict)]
    for kind in ("json_file", "yaml_file", "toml_file", "ini_file", "plain_file", "registry"):
        if target.get(kind):
            out.append(f"a {kind.replace('_', ' ')} setting (see the documentation)")
    return out


def product(doc: dict) -> dict:
    channels = []
    for t in doc.get("telemetry") or ():
        target = t.get("target") or {}
        traits = t.get("traits") or {}
        ch = {"id": t["id"], "name": t.get("name", t["id"]),
              "kinds": [k for k in ("usage_data", "update_check", "error_report") if traits.get(k)],
              "link": (t.get("links") or {}).get("telemetry") or (t.get("links") or {}).get("main", ""),
              "opt_out": {"env": _env(target, "opt_out"), "run": _run(target, "opt_out")},
              "opt_in": {"env": _env(target, "opt_in"), "run": _run(target, "opt_in")},
              "other": _other(target)}
        channels.append(ch)
    links = doc.get("links") or {}
    return {"id": doc["id"], "name": doc.get("name", doc["id"]), "executables": list(doc.get("executable_name") or ()),
            "category": doc.get("category_id", ""), "homepage": links.get("main", ""),
            "telemetry_doc": links.get("telemetry", ""), "channels": channels}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--snapshot", default="2023-02-19")
    args = ap.parse_args()
    products = [product(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(args.data.glob("*.json"))]
    doc = {"schema_version": 1,
           "source": {"name": "toptout", "url": "https://github.com/beatcracker/toptout", "licence": "MIT",
                      "copyright": "Copyright (c) 2019 beatcracker", "snapshot": args.snapshot,
                      "licence_file": "toptout-LICENSE.txt"},
           "products": products}
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(products)} products to {OUT}")


if __name__ == "__main__":
    main()
