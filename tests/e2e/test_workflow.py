"""The CI workflow on real captures: ids that survive re-runs, baseline, diff, shards and merge,
allowlist.

shape-tool is a program whose telemetry changes shape on every run (event order and count, a
session id as a JSON key and in the URL path, the user name in the path, an optional key, a
request id header, a host name inside a looked-up name), with a tracking id kept in HOME and a
machine-derived id: every source of per-run and per-audit randomness a finding id must ignore.
"""

import json

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.e2e

SHAPE_TOOL = r'''
import hashlib, json, os, random, socket, time, urllib.request, uuid

CHANGED = False  # the next release adds one field

if os.environ.get("SHAPE_TELEMETRY") != "0":
    user, host = os.environ.get("USER", ""), os.environ.get("HOSTNAME") or socket.gethostname()
    id_file = os.path.expanduser("~/.shape-id")
    if not os.path.exists(id_file):
        with open(id_file, "w") as fo:
            fo.write(uuid.uuid4().hex)
    install = open(id_file).read()
    try:
        machine = hashlib.sha256(open("/etc/machine-id").read().strip().encode()).hexdigest()
    except OSError:
        machine = ""
    session = uuid.uuid4().hex
    names = random.sample(["start", "build", "deploy", "test"], k=random.randint(1, 4))
    body = {"batch": [{"event": n, "user": user, "n": random.randint(1, 9)} for n in names],
            "sessions": {session: {"host": host}}, "install_id": install, "machine": machine,
            "ts": time.time()}
    if random.random() < 0.5:
        body["debug"] = {"pid": os.getpid()}
    if CHANGED:
        body["hostname"] = host
    keys = list(body)
    random.shuffle(keys)
    url = (f"https://t.shape.example/v1/{session}/u/{user}/collect"
           f"?sid={uuid.uuid4().hex}&t={int(time.time() * 1000)}")
    req = urllib.request.Request(url, data=json.dumps({k: body[k] for k in keys}).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "X-Request-Id": uuid.uuid4().hex})
    urllib.request.urlopen(req, timeout=10).read()
    if not os.environ.get("HTTPS_PROXY"):  # full capture answers DNS itself; never ask the host's resolver
        try:
            socket.getaddrinfo(f"{host}.internal.shape.example", 443)
        except OSError:
            pass
'''

SHAPE = """\
schema_version: 1
name: shape
steps:
  - name: first-use
    run: python3 "$SCENARIO_DIR/shape_tool.py"
consent:
  denied: {env: {SHAPE_TELEMETRY: "0"}}
variants: [unset, denied, dnt]
repeat: 2
"""


class Audits:
    """Audits of shape-tool, each run once per test module and shared by the tests."""

    def __init__(self, root):
        self.root, self.done = root, {}
        (root / "scenario.yaml").write_text(SHAPE)

    def __call__(self, name, *args, changed=False, expect=(0, 1)):
        if name not in self.done:
            (self.root / "shape_tool.py").write_text(SHAPE_TOOL.replace("CHANGED = False", f"CHANGED = {changed}"))
            out = self.root / name
            r = run_cli("run", self.root / "scenario.yaml", "--out", out, "--format", "json,sarif", *args)
            assert r.returncode in expect, r.stderr
            self.done[name] = (out, r)
        return self.done[name]

    def findings(self, name):
        return json.loads((self(name)[0] / "findings.json").read_text())


@pytest.fixture(scope="module")
def shape(tmp_path_factory):
    return Audits(tmp_path_factory.mktemp("shape"))


def ids(doc):
    return sorted(f["id"] for f in doc["findings"])


def test_two_independent_audits_give_the_same_ids(shape):
    a = shape.findings("a")
    base = shape.root / "baseline.json"
    r = run_cli("baseline", shape.root / "a", "--out", base)
    assert r.returncode == 0, r.stderr
    out_b, r = shape("b", "--seed", "2", "--baseline", base, expect=(0,))
    b = shape.findings("b")
    # The randomness was there: other canary values, other session ids, other shapes.
    ident = [json.loads((o / "runs/shape/unset/run.json").read_text())["identity"] for o in (shape.root / "a", out_b)]
    assert ident[0]["username"] != ident[1]["username"] and ident[0]["machine_id"] != ident[1]["machine_id"]
    rules = {f["rule"] for f in a["findings"]}
    assert {"PRIV-001", "CONF-001", "CONSENT-002", "CONSENT-003", "PRIV-004"} <= rules, rules
    assert len(a["findings"]) >= 8 and ids(a) == ids(b)
    # Every finding of b was accepted in a's baseline: the gate passes.
    assert b["exit_code"] == 0 and all(f["baselined"] for f in b["findings"]) and b["summary"]["baselined"] == len(ids(b))
    r = run_cli("diff", shape.root / "a", out_b)
    assert r.returncode == 0 and r.stdout.startswith("0 new, 0 fixed"), r.stdout
    # A finding seen in several runs is one finding listing them; canary values are placeholders.
    user = next(f for f in a["findings"] if f["rule"] == "PRIV-001" and f["evidence"]["match"] == "username"
                and f["evidence"]["location"].startswith("body:"))
    assert user["variants"] == ["unset", "unset-2", "unset-3", "dnt"] and user["variant"] == "unset"
    assert "/u/{username}/collect" in user["url"] and ident[0]["username"] not in json.dumps(a)
    if a["capture"] == "tun":  # the looked-up name embeds the canary host name
        assert "{hostname}.internal.shape.example" in {e["host"] for e in a["endpoints"]}


def test_shards_merge_to_the_unsharded_audit(shape, tmp_path):
    a = shape.findings("a")
    for i in (1, 2):  # no --seed: every shard plants its own canary identity
        shape(f"shard{i}", "--shard", f"{i}/2")
    merged = tmp_path / "merged"
    r = run_cli("merge", shape.root / "shard1", shape.root / "shard2", "--out", merged, "--format", "json")
    assert r.returncode == a["exit_code"], r.stderr
    m = json.loads((merged / "findings.json").read_text())
    assert ids(m) == ids(a)
    assert m["summary"]["by_severity"] == a["summary"]["by_severity"]
    assert {f["id"]: f["variants"] for f in m["findings"]} == {f["id"]: f["variants"] for f in a["findings"]}


def test_diff_names_the_changed_field(shape):
    shape("changed", "--seed", "4", changed=True)
    r = run_cli("diff", shape.root / "b", shape.root / "changed", "--format", "json")
    assert r.returncode == 1, r.stderr  # CONF-001 is high: a new finding at the bar
    d = json.loads(r.stdout)
    assert d["summary"] == {"new": 1, "fixed": 0, "unchanged": len(ids(shape.findings("b"))),
                            "endpoints_added": 0, "endpoints_removed": 0, "fields_added": 1, "fields_removed": 0}
    (ep,) = d["endpoints"]
    assert (ep["host"], ep["change"]) == ("t.shape.example", "changed")
    assert ep["fields"] == {"added": [{"host": "t.shape.example", "location": "body:$.hostname",
                                       "carries": "hostname"}], "removed": []}
    (new,) = ep["findings"]["new"]
    assert (new["rule"], new["location"], new["match"]) == ("CONF-001", "body:$.hostname", "hostname")
    text = run_cli("diff", shape.root / "b", shape.root / "changed").stdout
    assert "endpoint t.shape.example" in text and "+ data field body:$.hostname carries hostname" in text


SCENARIO = """\
schema_version: 1
name: wf
steps:
  - run: |
      export NO_PROXY= no_proxy=
      curl -s http://localhost:{port}/simple/; echo
      curl -s -d "user=$USER" https://telemetry.wf.example/v1/events; echo
consent:
  denied: {{env: {{WF_TELEMETRY: "0"}}}}
variants: [unset, denied, dnt]
network:
  allow: [localhost]
"""


def test_shards_merge_baseline_report_allowlist(write_scenario, tmp_path, local_server):
    registry = local_server()
    port = registry.server_address[1]
    sc = write_scenario(SCENARIO.format(port=port))
    a, b, merged = tmp_path / "a", tmp_path / "b", tmp_path / "merged"
    for out, shard in ((a, "1/2"), (b, "2/2")):
        r = run_cli("run", sc, "--capture", "proxy", "--shard", shard, "--out", out, "--seed", "3",
                    "--fail-on", "never", "--format", "json")
        assert r.returncode == 0, r.stderr
    runs_a = {p.name for p in (a / "runs/wf").iterdir()}
    runs_b = {p.name for p in (b / "runs/wf").iterdir()}
    assert runs_a | runs_b == {"unset", "denied", "dnt"} and not runs_a & runs_b
    r = run_cli("merge", a, b, "--out", merged)
    assert r.returncode == 1, r.stderr  # the denied run sends telemetry: CONSENT-001 is critical
    findings = json.loads((merged / "findings.json").read_text())
    rules = {(f["rule"], v) for f in findings["findings"] for v in f["variants"]}
    assert {("CONSENT-001", "denied"), ("CONSENT-002", "dnt"), ("PRIV-001", "unset"), ("PRIV-001", "denied")} <= rules
    assert (merged / "report.html").exists()
    # Accept today's findings (-o is kept as a short --out): the re-rendered audit then passes.
    r = run_cli("baseline", merged, "-o", tmp_path / "baseline.json")
    assert r.returncode == 0, r.stderr
    r = run_cli("report", merged, "--baseline", tmp_path / "baseline.json")
    assert r.returncode == 0, r.stderr
    again = json.loads((merged / "findings.json").read_text())
    assert again["findings"] and all(f["baselined"] for f in again["findings"])
    # The firewall list holds what the software needs (the registry, as it was reached: plain
    # http on its port), never the telemetry collector the audit sinkholed.
    assert registry.seen and set(registry.seen) == {"/simple/"}
    r = run_cli("allowlist", merged)
    assert r.returncode == 0 and r.stdout.split() == [f"localhost:{port}"], r.stdout + r.stderr
    r = run_cli("allowlist", merged, "--format", "harden-runner")
    assert r.stdout == f"egress-policy: block\nallowed-endpoints: >\n  localhost:{port}\n"
    assert run_cli("allowlist", merged, "--format", "iptables").returncode == 2
    assert run_cli("merge", a, a, "--out", tmp_path / "dup").returncode == 2
