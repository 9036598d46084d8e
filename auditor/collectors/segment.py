"""Segment's tracking API (and the many SDKs that copy it: RudderStack, Jitsu, …): track, identify,
page, screen, group, alias calls, alone or in a `batch`."""

from __future__ import annotations

from . import Recognition, Request, present, records, strings

_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
_IDS = ("anonymousId", "userId", "context.device.id")
_CALL_PATHS = ("/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias",
               "/v1/batch", "/v1/import", "/v1/t", "/v1/i", "/v1/p", "/v1/b")


class Segment:
    name = "segment"

    def recognise(self, req: Request) -> Recognition | None:
        call_path = req.path.rstrip("/").endswith(_CALL_PATHS)
        for doc in req.docs:
            events, ids, keys, calls = [], [], [], 0
            for base, rec in records(doc, "batch"):
                kind = rec.get("type")
                has_id = "anonymousId" in rec or "userId" in rec
                if has_id and (kind in _TYPES or (call_path and ("event" in rec or "traits" in rec))):
                    calls += 1
                    events.append(rec.get("event") or kind)
                    ids += present(rec, base, *_IDS)
                if "writeKey" in rec:
                    keys += present(rec, base, "writeKey")
            if calls:
                if req.headers.get("authorization", "").lower().startswith("basic "):
                    keys.append("header:authorization")  # the write key as the basic-auth user
                return Recognition(self.name, f"Segment-style tracking API: {calls} call(s) "
                                   f"({', '.join(strings(events)[:5])}) with anonymousId/userId",
                                   strings(events), tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(keys)))
        return None


SEGMENT = Segment()
