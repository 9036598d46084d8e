"""Renderers: one module per output format, each a pure function of the Audit value.

A renderer receives the plain Audit and the output directory, never the engine, so it can be
tested with a hand-built Audit and re-run offline by `egress-audit report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from .. import outfiles
from ..audit import Audit
from ..errors import UsageError
from . import html, json_, junit, md, sarif


def _har(audit: Audit, out: Path) -> Path | list[Path]:
    # Imported on use: it loads mitmproxy's addons (seconds), which no other format needs and
    # which the CLI must not pay for just to check --format.
    from . import har

    return har.render(audit, out)


# Order matters only for `render_all`: machine-readable files first, so a renderer bug in the
# HTML cannot cost CI its findings.json.
RENDERERS: dict[str, Callable[[Audit, Path], Path | list[Path]]] = {
    "json": json_.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "md": md.render,
    "html": html.render,
    "har": _har,
}
FORMATS = ("html", "json", "sarif", "junit", "md", "har")  # as documented for --format


def render_all(audit: Audit, out: Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Render each requested format into out; return the files written."""
    wanted = set(formats)
    unknown = sorted(wanted - set(RENDERERS))
    if unknown:
        raise UsageError(f"unknown report format {', '.join(map(repr, unknown))}; "
                         f"choose from {','.join(FORMATS)}")
    out = Path(out)
    outfiles.make_dirs(out)
    written: list[Path] = []
    for name, render in RENDERERS.items():
        if name in wanted:
            result = render(audit, out)
            written += result if isinstance(result, list) else [result]
    return written
