"""PostHog's capture API: {"api_key": "phc_…", "event", "distinct_id"} alone or in a `batch`."""

from __future__ import annotations

from . import Recognition, Request, present, records, strings

_IDS = ("distinct_id", "properties.distinct_id", "properties.$device_id", "$set.$anon_distinct_id")


class PostHog:
    name = "posthog"

    def recognise(self, req: Request) -> Recognition | None:
        for doc in req.docs:
            v = doc.value
            key = v.get("api_key") or v.get("token") if isinstance(v, dict) else None
            if not isinstance(key, str) or not (key.startswith("phc_") or "batch" in v or "event" in v):
                continue
            events, ids = [], []
            for base, rec in records(doc, "batch"):
                if "event" in rec and ("distinct_id" in rec or "distinct_id" in (rec.get("properties") or {})):
                    events.append(rec["event"])
                    ids += present(rec, base, *_IDS)
            if events:
                where = "api_key" if "api_key" in v else "token"
                return Recognition(self.name, f"PostHog capture API: {len(events)} event(s) with distinct_id",
                                   strings(events), tuple(dict.fromkeys(ids)), (f"{doc.part}:$.{where}",))
        return None


POSTHOG = PostHog()
