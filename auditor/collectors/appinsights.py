"""Azure Application Insights / Azure Monitor ingestion (POST /v2/track, /v2.1/track): envelopes
{"name": "Microsoft.ApplicationInsights….Event", "iKey", "tags": {"ai.user.id", …}, "data":
{"baseType", "baseData"}}, as a JSON array, one object, or one per line."""

from __future__ import annotations

from . import Recognition, Request, at, present, records, strings

_ID_TAGS = ("ai.user.id", "ai.session.id", "ai.device.id", "ai.user.authUserId")


class AppInsights:
    name = "appinsights"

    def recognise(self, req: Request) -> Recognition | None:
        events, ids, keys = [], [], []
        for doc in req.docs:
            for base, rec in records(doc):
                name, data = rec.get("name"), rec.get("data")
                if not (isinstance(name, str) and name.startswith("Microsoft.ApplicationInsights.")
                        and isinstance(data, dict) and "baseType" in data):
                    continue
                base_data = data.get("baseData") if isinstance(data.get("baseData"), dict) else {}
                events.append(base_data.get("name") or data["baseType"])
                tags = rec.get("tags") if isinstance(rec.get("tags"), dict) else {}
                ids += [at(base, "tags", k) for k in _ID_TAGS if tags.get(k)]
                keys += present(rec, base, "iKey")
        if not events:
            return None
        return Recognition(self.name, f"Application Insights telemetry: {len(events)} envelope(s)", strings(events),
                           tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(keys)))


APPINSIGHTS = AppInsights()
