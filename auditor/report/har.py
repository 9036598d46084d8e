"""runs/<scenario>/<run>/flows.har: HAR 1.2 of each run's HTTP flows, for browser dev tools.

mitmproxy's own exporter writes the entries, so the HAR matches what `mitmweb` would export from
the same flows.mitm. TCP, UDP and DNS flows have no HAR form; they stay in flows.mitm only.
Unlike every other report, a HAR holds the captured bytes unmasked, exactly as flows.mitm does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mitmproxy import http
from mitmproxy.addons.savehar import SaveHar

from .. import flowstore, outfiles
from ..audit import Audit, RunSummary
from ..errors import UsageError
from . import view

FILENAME = "flows.har"
SOURCE = "flows.mitm"
_NAME = re.compile(r"[A-Za-z0-9._-]+")


def har_of(run: RunSummary) -> dict | None:
    """The HAR document for one run, or None when it has no flows file to export."""
    if run.dir is None or not (Path(run.dir) / SOURCE).is_file():
        return None
    damage: list[str] = []
    flows = list(flowstore.iter_flows(Path(run.dir) / SOURCE, damage))
    exporter = SaveHar()
    har = exporter.make_har([])
    seen: set = set()
    failed: list[str] = []
    for f in flows:
        if not isinstance(f, http.HTTPFlow):
            continue
        # mitmproxy's exporter parses the URL again (a "[" in a captured host name makes it
        # raise): one flow it cannot export costs that entry, not the run's HAR.
        try:
            har["log"]["entries"].append(exporter.flow_entry(f, seen))
        except Exception as e:
            failed.append(f"{f.id} ({type(e).__name__}: {view.clip(e, 80)})")
    notes = [f"egress-auditor: {run.scenario}/{run.name}, HTTP flows only"]
    notes += damage
    if failed:
        notes.append(f"{len(failed)} flow(s) not exportable to HAR, still in {SOURCE}: {', '.join(failed[:5])}")
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
            where = outfiles.make_dirs(out, "runs", _safe_part(run.scenario), _safe_part(run.name))
            written.append(view.write_text(where / FILENAME, text))
    return written
