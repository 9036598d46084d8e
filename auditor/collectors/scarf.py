"""Scarf package analytics: scarf-js' install event (POST /package-event/install with the
dependency tree) and Scarf tracking pixels (?x-pxid=…)."""

from __future__ import annotations

from . import Recognition, Request


class Scarf:
    name = "scarf"

    def recognise(self, req: Request) -> Recognition | None:
        for doc in req.docs:
            v = doc.value
            if isinstance(v, dict) and "dependencyInfo" in v and ("libraryType" in v or "rawPlatform" in v):
                return Recognition(self.name, "Scarf package event: install with the dependency tree", ("install",))
        if "/package-event/" in req.path and req.method == "POST":
            return Recognition(self.name, f"Scarf package event: POST {req.path}", (req.path.rsplit("/", 1)[-1],))
        if "x-pxid" in req.params:
            return Recognition(self.name, "Scarf tracking pixel (x-pxid)", ("pixel",), keys=("query:x-pxid",))
        return None


SCARF = Scarf()
