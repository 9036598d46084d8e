import pytest

from .helpers import kinds


@pytest.mark.parametrize("text", [
    '{"lat": 48.8566, "lon": 2.3522}',
    '{"latitude":"-33.8688","longitude":"151.2093"}',
    "ll=40.7128,-74.0060",
    '"coordinates": [2.3522, 48.8566]',  # GeoJSON: longitude first
    '"location": "51.5074, -0.1278"',
])
def test_locations(text):
    assert [k for k, _ in kinds(text)] == ["geo"]


@pytest.mark.parametrize("text", [
    '{"lat": 0.000, "lon": 0.000}',  # null island: no fix
    '{"lat": 95.1234, "lon": 2.3522}',  # out of range
    '{"lat": 48.8566}',  # no longitude
    '"load": [0.1234, 0.5678]', '"ratio": 1.2345, "score": 2.3456',
    '"flat": 12.345, "lon": 2.345', '"version": "48.8566,2.3522"',
])
def test_not_locations(text):
    assert [k for k, _ in kinds(text) if k == "geo"] == []
