"""Writing the audit's own files: private modes, never through a symbolic link.

Reports and run directories hold what the program under test sent, planted credentials included:
files are created 0600 and directories 0700, whatever the umask. Nothing is written through a
symbolic link inside the output directory: a link planted there (by the program under test, or by
anyone who can write the directory) would otherwise redirect a report onto any file the auditor
can write. Files are written to a fresh temporary name (O_CREAT|O_EXCL|O_NOFOLLOW) and renamed
over the target, which replaces a link rather than following it; directories below the output
root are refused when they are links. The output root itself is the user's choice and may be one.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import IO

from .errors import UsageError

FILE_MODE = 0o600
DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _refuse_link(path: Path) -> None:
    raise UsageError(f"{path}: is a symbolic link inside the output directory; refusing to write "
                     "through it (remove it, or choose a fresh --out)")


def make_dirs(root: Path, *parts: str) -> Path:
    """root/parts…, each created 0700 when missing; an existing component must be a real
    directory, not a link. root may be a link (the user named it) but must be a directory."""
    root = Path(root)
    if not root.is_dir():
        root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    path = root
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\0" in part:
            raise UsageError(f"{root}: refusing to create directory {part!r} (not a plain name)")
        path = path / part
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                _refuse_link(path)
            if not stat.S_ISDIR(st.st_mode):
                raise UsageError(f"{path}: exists and is not a directory") from None
    return path


def ensure_parent(root: Path, path: Path) -> Path:
    """Create path's parent directories below root (as make_dirs does)."""
    rel = Path(path).parent.relative_to(root) if Path(path).parent != Path(root) else Path()
    return make_dirs(root, *rel.parts)


def _check_target(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path}: is a directory")


def write_bytes(path: Path, data: bytes) -> Path:
    """Replace path atomically with a 0600 file holding data; a link at path is replaced, never
    followed, so CI never uploads a half-written report and a planted link redirects nothing."""
    path = Path(path)
    _check_target(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fo:
            fo.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str, errors: str = "strict") -> Path:
    return write_bytes(path, text.encode("utf-8", errors))


def open_append(path: Path, binary: bool = False) -> IO:
    """A log the auditor appends to (output.jsonl, flows.mitm): created 0600, never opened
    through a link, and only a regular file is accepted."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC, FILE_MODE)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{path}: not a regular file")
    return os.fdopen(fd, "ab") if binary else os.fdopen(fd, "a", encoding="utf-8")


def open_read(path: Path) -> IO[bytes]:
    """A captured file opened for reading: never through a link, only a regular file (a FIFO or
    a device planted as flows.mitm would stall or flood the analysis)."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError("not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")
