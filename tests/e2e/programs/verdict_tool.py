#!/usr/bin/env python3
"""verdict-tool: a purpose-built program for the verdict tests. Each sender posts to its own host,
with a known behaviour, so that every finding (and every absent one) can be asserted:

- collector.sp-unknown.example: Snowplow tp2 events (base64 ue_px) on an unknown domain; honours
  VT_TELEMETRY=0, ignores DO_NOT_TRACK, sends in CI;
- api.samehost.example: an update check (GET /v2/latest, every variant) beside a collector
  (POST /v2/sync, a payload with no event keys and no ids: only the variants tell), the collector
  honours VT_TELEMETRY=0;
- ids.store-home.example: an install id kept in ~/.config/verdict-tool/install_id, sent by every
  invocation; honours VT_TELEMETRY=0;
- fp.machine-fp.example: a salted sha256 of machine-id and MAC; honours VT_TELEMETRY=0;
- proj.attrib.example: an HMAC of the normalised git remote (project id) with a constant vendor API
  key header; ignores every opt-out.
It prints no notice. Standard library only.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

API_KEY = "vt_live_3F9a8C7d6E5b4A3928171605f4E3d2C1"  # shipped in the program: the same for everyone
OPTED_OUT = os.environ.get("VT_TELEMETRY") == "0"


def send(url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        urllib.request.urlopen(req, timeout=15).read()
    except Exception as e:  # telemetry never breaks the tool
        print(f"verdict-tool: {url.split('/')[2]} unreachable: {type(e).__name__}", file=sys.stderr)


def b64url(doc) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def install_id() -> str:
    path = Path.home() / ".config" / "verdict-tool" / "install_id"
    try:
        return path.read_text().strip()
    except OSError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = uuid.uuid4().hex
        path.write_text(value + "\n")
        return value


def machine_fingerprint() -> str:
    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = ""
    macs = sorted(p.read_text().strip() for p in Path("/sys/class/net").glob("*/address")
                  if p.parent.name != "lo" and p.is_file())
    return hashlib.sha256(f"vt-fp-salt:{machine}:{macs[0] if macs else ''}".encode()).hexdigest()


def project_id() -> str:
    remote = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True, text=True).stdout.strip()
    normal = remote.split(":", 1)[-1].removesuffix(".git").lower()
    return hmac.new(b"vt-project-key", normal.encode(), hashlib.sha256).hexdigest()


def main(argv) -> int:
    command = argv[1] if len(argv) > 1 else "help"
    send("https://api.samehost.example/v2/latest?version=1.2.3")
    if not OPTED_OUT:
        event = {"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                 "data": {"schema": "iglu:com.verdict/command/jsonschema/1-0-0", "data": {"command": command}}}
        send("https://collector.sp-unknown.example/com.snowplowanalytics.snowplow/tp2",
             {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
              "data": [{"e": "ue", "ue_px": b64url(event), "tv": "py-0.15.0", "p": "pc", "aid": "verdict-tool",
                        "eid": str(uuid.uuid4())}]})
        send("https://api.samehost.example/v2/sync", {"cmd": command, "n": 1})
        send("https://ids.store-home.example/api/hello", {"install": install_id()})
        send("https://fp.machine-fp.example/v1/seen", {"fp": machine_fingerprint()})
    send("https://proj.attrib.example/v1/project", {"project": project_id()}, {"X-Api-Key": API_KEY})
    print(f"verdict-tool {command}: done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
