"""runs/<scenario>/<run>/flows.har: HAR 1.2 of each run's HTTP flows, for browser dev tools.

mitmproxy's own exporter writes the entries, so the HAR matches what `mitmweb` would export from
the same flows.mitm. TCP, UDP and DNS flows have no HAR form; they stay in flows.mitm only.
Unlike every other report, a HAR holds the captured bytes unmasked, exactly as flows.mitm does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mitmproxy import io
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.exceptions import FlowReadException

from ..audit import Audit, RunSummary
from ..errors import UsageError
from . import view

FILENAME = "flows.har"
SOURCE = "flows.mitm"
_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _read(path: Path) -> tuple[list, str]:
    """The flows of a .mitm file, and why reading stopped early if it did.

    A capture that crashed leaves a truncated file; the flows before the damage are still
    evidence, so they are exported and the damage is noted in the HAR rather than raised.
    """
    flows: list = []
    try:
        with open(path, "rb") as fo:
            for f in io.FlowReader(fo).stream():
                flows.append(f)
    except (FlowReadException, ValueError, OSError) as e:
        return flows, f"{SOURCE} could not be read completely after {len(flows)} flows: {e}"
    return flows, ""


def har_of(run: RunSummary) -> dict | None:
    """The HAR document for one run, or None when it has no flows file to export."""
    if run.dir is None or not (Path(run.dir) / SOURCE).is_file():
        return None
    flows, damage = _read(Path(run.dir) / SOURCE)
    har = SaveHar().make_har(flows)
    notes = [f"egress-auditor: {run.scenario}/{run.name}, HTTP flows only"]
    if damage:
        notes.append(damage)
    har["log"]["comment"] = "; ".join(notes)
    return har


def _safe_part(name: str) -> str:
    # Names become path components under OUT; ".." or a slash would write outside it.
    if not name or name in (".", "..") or not _NAME.fullmatch(name):
        raise UsageError(f"cannot write {FILENAME} for run name {view.clip(name)!r}: "
                         "not a plain [A-Za-z0-9._-] name")
    return name


def render(audit: Audit, out: Path) -> list[Path]:
    """One HAR per run with a flows file; unlike the other renderers it returns every file."""
    written = []
    for s in view.scenario_names(audit):
        for run in view.runs_of(audit, s):
            har = har_of(run)
            if har is None:
                continue
            # json's default ASCII escaping keeps undecodable body bytes (surrogates) valid JSON.
            text = json.dumps(har, indent=2) + "\n"
            path = out / "runs" / _safe_part(run.scenario) / _safe_part(run.name) / FILENAME
            written.append(view.write_text(path, text))
    return written
