"""Google Analytics: the GA4 Measurement Protocol (POST /mp/collect?measurement_id=…&api_secret=…
with {"client_id", "events": [{"name"}]}), gtag's /g/collect (v=2) and Universal Analytics'
/collect (v=1&tid=UA-…&cid=…)."""

from __future__ import annotations

from . import Recognition, Request, present, records, strings

_IDS = ("client_id", "user_id", "app_instance_id")


class GA4:
    name = "ga4"

    def recognise(self, req: Request) -> Recognition | None:
        p = req.params
        if "measurement_id" in p or "firebase_app_id" in p or req.path.endswith("/mp/collect"):
            for doc in req.docs:
                for base, rec in records(doc):
                    if isinstance(rec.get("events"), list) and any(k in rec for k in _IDS):
                        names = [e.get("name") for e in rec["events"] if isinstance(e, dict)]
                        keys = tuple(f"query:{k}" for k in ("api_secret", "measurement_id", "firebase_app_id") if k in p)
                        return Recognition(self.name, "GA4 Measurement Protocol: events with client_id",
                                           strings(names), present(rec, base, *_IDS), keys)
        version, tid = p.get("v"), p.get("tid", "")
        if version in ("1", "2") and tid.startswith(("UA-", "G-")) or (version == "1" and "cid" in p and "t" in p):
            where = "query" if req.method == "GET" else "body"
            ids = tuple(f"{where}:{k}" for k in ("cid", "uid", "_fid") if k in p)
            what = "gtag /g/collect" if version == "2" else "Universal Analytics measurement protocol"
            return Recognition(self.name, f"Google Analytics {what} (tid {tid[:2]}…)",
                               strings([p.get("en") or p.get("t") or p.get("ec")]), ids, (f"{where}:tid",))
        return None


GA4 = GA4()
