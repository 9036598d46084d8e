"""Mixpanel's ingestion API: events ({"event", "properties": {"token", "distinct_id"}}) and
profile updates ({"$token", "$distinct_id", "$set"}), as JSON or base64 in a `data` parameter."""

from __future__ import annotations

from . import Recognition, Request, present, records, strings

_IDS = ("properties.distinct_id", "properties.$device_id", "properties.$user_id", "$distinct_id", "$device_id")
_KEYS = ("properties.token", "$token")


class Mixpanel:
    name = "mixpanel"

    def recognise(self, req: Request) -> Recognition | None:
        for doc in req.docs:
            events, ids, keys = [], [], []
            for base, rec in records(doc):
                props = rec.get("properties")
                if "event" in rec and isinstance(props, dict) and ("token" in props or "distinct_id" in props):
                    events.append(rec["event"])
                elif "$token" in rec and "$distinct_id" in rec:
                    events.append("profile update")
                else:
                    continue
                ids += present(rec, base, *_IDS)
                keys += present(rec, base, *_KEYS)
            if events:
                return Recognition(self.name, f"Mixpanel ingestion API: {len(events)} record(s) with a project token",
                                   strings(events), tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(keys)))
        return None


MIXPANEL = Mixpanel()
