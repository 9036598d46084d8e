"""What a run left in its HOME (the work dir lives inside it): a bounded manifest with the
contents of small text files, written into the run directory, so that the analysis can show
where a sent identifier is stored (`~/.config/<tool>/user_id`) without the sandbox.

Every HOME starts fresh and holds only the planted `.gitconfig` and the project, so nearly every
file here was written by the program. Package trees and caches are listed by count only: they are
large, and an identifier is not kept in a wheel or a tarball.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILENAME = "home-files.json"
SCHEMA_VERSION = 1
MAX_FILES = 4000
MAX_FILE_BYTES = 64 << 10
MAX_TOTAL_BYTES = 4 << 20
# Directories whose files are packages, caches or VCS objects: counted, not listed.
BULK_DIRS = frozenset({"node_modules", "site-packages", "dist-packages", "__pycache__", "_cacache",
                       ".git", ".venv", "venv", ".npm", ".cargo", ".rustup", "pip", ".pyenv"})


def _text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _count(top: Path, limit: int = 100_000) -> int:
    n = 0
    for _, _, names in os.walk(top):
        n += len(names)
        if n >= limit:
            break
    return n


def snapshot(home: Path, run_dir: Path) -> Path:
    """Write run_dir/home-files.json: every file under home (bounded), small text files inline."""
    files: list[dict] = []
    bulk: dict[str, int] = {}
    total = 0
    truncated = False
    for root, dirs, names in os.walk(home):
        rel_root = Path(root).relative_to(home)
        for d in [d for d in dirs if d in BULK_DIRS]:
            bulk[str(rel_root / d)] = _count(Path(root) / d)
        dirs[:] = sorted(d for d in dirs if d not in BULK_DIRS)
        for name in sorted(names):
            if len(files) >= MAX_FILES:
                truncated = True
                break
            path = Path(root) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            entry = {"path": str(rel_root / name), "size": st.st_size}
            if path.is_symlink() or not path.is_file():
                entry["kind"] = "link" if path.is_symlink() else "other"
            elif st.st_size <= MAX_FILE_BYTES and total + st.st_size <= MAX_TOTAL_BYTES:
                try:
                    text = _text(path.read_bytes())
                except OSError:
                    text = None
                if text is not None:
                    entry["text"] = text
                    total += st.st_size
            files.append(entry)
    out = run_dir / FILENAME
    doc = {"schema_version": SCHEMA_VERSION, "home": str(home), "files": files,
           "bulk": dict(sorted(bulk.items())), "truncated": truncated}
    # ASCII escapes: a file name that is not UTF-8 (a lone surrogate here) stays valid JSON.
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return out


def load(run_dir: Path) -> list[tuple[str, str]]:
    """(path shown as ~/…, text) of the stored small text files of a run; [] when none."""
    try:
        doc = json.loads((run_dir / FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [(f"~/{f['path']}", f["text"]) for f in doc.get("files", ())
            if isinstance(f, dict) and isinstance(f.get("text"), str) and isinstance(f.get("path"), str)]


def where_stored(value: str, stored: list[tuple[str, str]]) -> list[str]:
    """Files whose text holds the value (as is, or JSON-escaped)."""
    if len(value) < 8:
        return []
    escaped = json.dumps(value)[1:-1]
    return [path for path, text in stored if value in text or (escaped != value and escaped in text)]
