"""Amplitude's HTTP API (v2 and batch: {"api_key", "events": [{"event_type", …}]}) and its older
form API (client=<key>&e=<JSON events>)."""

from __future__ import annotations

from . import Recognition, Request, present, records, strings

_IDS = ("user_id", "device_id", "session_id")


class Amplitude:
    name = "amplitude"

    def recognise(self, req: Request) -> Recognition | None:
        for doc in req.docs:
            v = doc.value
            form = doc.part == "body" and doc.path.endswith("e") and "client" in req.params
            if not ((isinstance(v, dict) and "api_key" in v and isinstance(v.get("events"), list)) or form):
                continue
            events, ids = [], []
            for base, rec in records(doc, "events"):
                if "event_type" in rec:
                    events.append(rec["event_type"])
                    ids += present(rec, base, *_IDS)
            if not events:
                continue
            keys = ("body:$.api_key",) if isinstance(v, dict) and "api_key" in v else ("body:client",)
            return Recognition(self.name, f"Amplitude HTTP API: {len(events)} event(s) with event_type",
                               strings(events), tuple(dict.fromkeys(ids)), keys)
        return None


AMPLITUDE = Amplitude()
