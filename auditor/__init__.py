"""egress-auditor: observe what software sends home."""

__version__ = "0.1.0"
