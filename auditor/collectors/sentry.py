"""Sentry: envelopes (POST /api/<project>/envelope/: a header line, then item headers and
payloads) and the older store endpoint, authenticated by X-Sentry-Auth or ?sentry_key=."""

from __future__ import annotations

import re

from . import Recognition, Request, present, strings

_API = re.compile(r"/api/\d+/(envelope|store|minidump|security)/?$")
_IDS = ("user.id", "user.ip_address", "user.email", "contexts.device.device_unique_identifier")


class Sentry:
    name = "sentry"

    def recognise(self, req: Request) -> Recognition | None:
        auth = req.headers.get("x-sentry-auth", "")
        keyed = "sentry_key=" in auth or "sentry_key" in req.params
        api = _API.search(req.path)
        docs = [d for d in req.docs if isinstance(d.value, dict)]
        header = docs[0].value if docs else {}
        envelope = "event_id" in header or "dsn" in header or "sent_at" in header
        items = [d.value["type"] for d in docs[1:] if isinstance(d.value.get("type"), str)]
        if not (keyed or (api and (envelope or "event_id" in header))):
            return None
        ids: list[str] = []
        for d in docs:
            if "event_id" in d.value or "exception" in d.value or "user" in d.value:
                ids += present(d.value, d.location if d.path else f"{d.part}:$", *_IDS)
        keys = (["header:x-sentry-auth"] if "sentry_key=" in auth else []) + \
               (["query:sentry_key"] if "sentry_key" in req.params else []) + (["body:$[0].dsn"] if "dsn" in header else [])
        kind = api.group(1) if api else "store" if "event_id" in header else "envelope"
        return Recognition(self.name, f"Sentry {kind} ({', '.join(strings(items)) or 'event'})",
                           strings(items or ["event"]), tuple(dict.fromkeys(ids)), tuple(keys))


SENTRY = Sentry()
