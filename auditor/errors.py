"""Errors a user can act on. The CLI maps them to exit codes; nothing else prints."""

from __future__ import annotations


class AuditorError(Exception):
    """Base class: the message is shown to the user as is."""

    exit_code = 2


class UsageError(AuditorError):
    """Bad command-line input or an unreadable input file (exit 2)."""


class ScenarioError(AuditorError):
    """A scenario file is invalid. Names file, line and key."""

    def __init__(self, path: str, line: int | None, key: str, message: str):
        self.path, self.line, self.key, self.detail = path, line, key, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class CaptureError(AuditorError):
    """The capture sandbox could not start or failed mid-run: the audit is incomplete (exit 3)."""

    exit_code = 3
