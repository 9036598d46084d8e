"""Snowplow tracker protocol: GET /i with parameters, or POST .../tp2 with an iglu payload_data
envelope whose events carry self-describing JSON base64-encoded in `ue_px` and `cx`."""

from __future__ import annotations

from . import Recognition, Request, at, records, strings

_EVENTS = frozenset({"pv", "pp", "ue", "se", "tr", "ti", "ad"})  # page view, ping, unstructured, …
_PAYLOAD = "iglu:com.snowplowanalytics.snowplow/payload_data"
_IDS = ("duid", "uid", "nuid", "tnuid", "sid", "domain_sessionid")  # device, user, network, session
_KEYS = ("aid",)  # the application id the tracker was built with


def _self_described(req: Request) -> list[str]:
    """Schemas of the events decoded from ue_px / ue_pr: com.acme/cli_run."""
    names = []
    for doc in req.docs:
        v = doc.value
        if isinstance(v, dict) and isinstance(v.get("data"), dict):
            schema = v["data"].get("schema", "")
            if isinstance(schema, str) and schema.startswith("iglu:") and "snowplow" not in schema:
                names.append(schema[5:].split("/jsonschema/")[0])
    return names


class Snowplow:
    name = "snowplow"

    def recognise(self, req: Request) -> Recognition | None:
        p = req.params
        if req.path.endswith("/i") and p.get("e") in _EVENTS and ("tv" in p or "p" in p):
            return Recognition(self.name, f"Snowplow tracker protocol: GET {req.path} e={p['e']}, tracker {p.get('tv', '?')}",
                               strings([p["e"], *_self_described(req)]),
                               tuple(f"query:{k}" for k in _IDS if k in p), tuple(f"query:{k}" for k in _KEYS if k in p))
        for doc in req.docs:
            v = doc.value
            if not (isinstance(v, dict) and str(v.get("schema", "")).startswith(_PAYLOAD)
                    and isinstance(v.get("data"), list)):
                continue
            events, ids, keys = [], [], []
            for base, rec in records(doc, "data"):
                if rec is v:
                    continue
                events.append(rec.get("e"))
                ids += [at(base, k) for k in _IDS if k in rec]
                keys += [at(base, k) for k in _KEYS if k in rec]
            return Recognition(self.name, f"Snowplow tracker protocol: POST {req.path} with an iglu payload_data envelope",
                               strings(events + _self_described(req)), tuple(dict.fromkeys(ids)),
                               tuple(dict.fromkeys(keys)))
        return None


SNOWPLOW = Snowplow()
