import pytest

from .helpers import protocol

INSTALL = {"libraryType": "npm", "rawPlatform": "linux", "rawArch": "x64",
           "dependencyInfo": {"scarf": {"name": "@scarf/scarf"}, "parent": {"name": "lib", "version": "1.0.0"}}}


@pytest.mark.parametrize("method, url, body, expected", [
    ("POST", "https://scarf.example/package-event/install", INSTALL, "scarf"),
    ("POST", "https://own-proxy.example/report", INSTALL, "scarf"),
    ("GET", "https://static.scarf.example/a.png?x-pxid=fc72d03c-c3a2-4736-b243-10eeff839778", None, "scarf"),
    # negative rows
    ("POST", "https://x.example/report", {"dependencyInfo": {"a": 1}}, ""),
    ("GET", "https://x.example/a.png?id=1", None, ""),
])
def test_scarf(method, url, body, expected):
    assert protocol(method, url, body) == expected
