#!/usr/bin/env python3
"""updater: a purpose-built program that sends only functional requests — an update check and a
manifest fetch with a fresh request id — the same in every variant. Standard library only."""

import sys
import urllib.request
import uuid

for url in ("https://updates.functional-only.example/v1/latest?current=2.0.1",
            "https://cdn.functional-only.example/manifest.json"):
    req = urllib.request.Request(url, headers={"X-Request-Id": str(uuid.uuid4()), "User-Agent": "updater/2.0.1"})
    try:
        urllib.request.urlopen(req, timeout=15).read()
    except Exception as e:
        print(f"updater: {e}", file=sys.stderr)
print("updater: up to date")
