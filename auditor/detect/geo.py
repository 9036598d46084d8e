"""Geolocation (PRIV-005): a latitude/longitude pair, only where the data says it is one (lat/lon
keys, or a coordinate-named field). Two bare floats are far more often a metric pair."""

from __future__ import annotations

import re

from ..decode.multiscan import Pattern
from . import Hit

_NUM = rb"-?\d{1,3}\.\d{3,}"
_LAT = re.compile(rb"(?i)(?:lat|latitude)[\"']?\s*[:=]\s*[\"']?(" + _NUM + rb")")
_LON = re.compile(rb"(?i)(?:lon|lng|long|longitude)[\"']?\s*[:=]\s*[\"']?(" + _NUM + rb")")
_PAIR = re.compile(rb"(?i)(?:coords?|coordinates|latlng|latlon|lat_lng|lat_lon|geo|location|loc|position|ll)"
                   rb"[\"']?\s*[:=]\s*[\[\"'(]?\s*[\"']?(" + _NUM + rb")[\"']?\s*,\s*[\"']?(" + _NUM + rb")")


def _valid(lat: float, lon: float) -> bool:
    return abs(lat) <= 90 and abs(lon) <= 180 and not (abs(lat) < 1e-3 and abs(lon) < 1e-3)


class Geo:
    kind = "geo"
    category = "personal"
    locators = (Pattern(rb"(?:lat|latitude)[\"']?\s*[:=]\s*[\"']?" + _NUM, rb"(?:lat|latitude)[\"']?\s*[:=]\s*[\"']?" + _NUM, True),
                Pattern(rb"(?:coords?|coordinates|latlng|latlon|lat_lng|lat_lon|geo|location|loc|position|ll)"
                        rb"[\"']?\s*[:=]\s*[\[\"'(]?\s*[\"']?" + _NUM + rb"[\"']?\s*,\s*[\"']?" + _NUM,
                        _PAIR.pattern[4:], True))

    def verify(self, data: bytes, start: int, end: int, which: int) -> Hit | None:
        if start > 0 and chr(data[start - 1]).isalnum() and which == 0:
            return None  # "flat": 1.234 or "plate": is not a latitude key
        if which == 1:
            m = _PAIR.match(data, start, start + 120)
            if not m:
                return None
            a, b = float(m.group(1)), float(m.group(2))
            lat, lon = (a, b) if abs(a) <= 90 else (b, a)  # GeoJSON writes lon first
            return Hit(self.kind, m.start(1), m.end(2), "likely", b"%.3f,%.3f" % (lat, lon)) \
                if _valid(lat, lon) else None
        m = _LAT.match(data, start, start + 60)
        if not m:
            return None
        # Serialisers may put other keys between the two (sorted keys, shuffled maps).
        window = data[max(0, start - 1024):start + 1024]
        lon_m = _LON.search(window)
        if not lon_m:
            return None
        lat, lon = float(m.group(1)), float(lon_m.group(1))
        if not _valid(lat, lon):
            return None
        return Hit(self.kind, m.start(1), m.end(1), "likely", b"%.3f,%.3f" % (lat, lon))


GEO = Geo()
