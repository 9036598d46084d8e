"""Parallel runs and the download cache change how fast an audit is, never what it finds.

The same scenario (the demo tool's telemetry plus package downloads from a loopback registry) is
audited with one run at a time and no cache, then with `--jobs auto` and a cold cache that the
later variants hit: findings, endpoints and what each run's program received must be identical.
"""

import hashlib
import json
import shutil

import pytest

from .conftest import REPO, run_cli
from .loopback_registry import Registry

pytestmark = pytest.mark.e2e
FETCH = '''
import hashlib, sys, urllib.request
base = sys.argv[1]
for path in sys.argv[2:]:
    data = urllib.request.urlopen(base + path, timeout=30).read()
    print(path, hashlib.sha256(data).hexdigest())
'''


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    d = tmp_path_factory.mktemp("parallel")
    registry = Registry(d, name="localhost", tls=False)
    shutil.copy(REPO / "auditor/demo/demo_tool.py", d / "demo_tool.py")
    (d / "fetch.py").write_text(FETCH)
    paths = " ".join(("/simple/demo-pkg/", registry.wheel_path, "/demo-pkg", registry.tarball_path))
    demo = (REPO / "auditor/demo/scenario.yaml").read_text()
    steps = demo[demo.index("steps:\n") + len("steps:\n"):demo.index("consent:")]
    scenario = demo.replace("steps:\n", f"""steps:
  - name: download
    run: NO_PROXY= no_proxy= python3 "$SCENARIO_DIR/fetch.py" {registry.base} {paths}
    timeout: 60
""", 1).replace("variants: [unset, denied, dnt, granted, ci, tty, untrusted-ca]", "variants: [unset, denied, dnt, ci]")
    scenario = scenario.replace('allow: ["@pip-index"]', "allow: [localhost]")
    assert steps and "localhost" in scenario and "repeat: 2" in scenario
    (d / "scenario.yaml").write_text(scenario)
    out = {}
    for name, args in (("serial", ["--jobs", "1", "--cache", "off"]),
                       ("parallel", ["--jobs", "auto", "--cache", str(d / "cache")])):
        before = registry.file_requests()
        r = run_cli("run", d / "scenario.yaml", "--capture", "proxy", "--seed", "7", "--out", d / name,
                    "--fail-on", "never", "--format", "json", *args)
        assert r.returncode == 0, r.stderr
        out[name] = (d / name, registry.file_requests() - before, r.stderr)
    out["files"] = {p: hashlib.sha256(data).hexdigest() for p, data in registry.files.items()}
    registry.close()
    return out


def findings(out_dir):
    """What was found, where and how sure — without ids, excerpts and prose.

    Those carry per-audit values (HOME and project paths differ between audits, and with --jobs 1
    every run shares one sandbox path while parallel runs each have their own, until runs see
    constant inside paths; a random tracking id is in its finding's id): none depends on
    parallelism or caching, and the facts compared here would change if either changed a result."""
    doc = json.loads((out_dir / "findings.json").read_text())
    facts = []
    for f in doc["findings"]:
        ev = f.get("evidence") or {}
        facts.append((f["rule"], f["severity"], f["confidence"], f["scenario"], f["variant"],
                      tuple(f.get("variants") or ()), f["host"], ev.get("location"), ev.get("match"),
                      ev.get("form"), tuple(ev.get("layers") or ()), ev.get("detector")))
    return sorted(facts, key=repr), doc["endpoints"]


def received(out_dir):
    """What each run's program got: the digests it printed, by run."""
    got = {}
    for run in sorted((out_dir / "runs").glob("*/*")):
        lines = [json.loads(l) for l in (run / "output.jsonl").read_text().splitlines()]
        got[run.name] = [l["text"] for l in lines if l["step"] == "download" and l["stream"] == "stdout"]
    return got


def test_findings_are_identical_with_and_without_parallelism_and_cache(audits):
    (serial, _, _), (parallel, _, log) = audits["serial"], audits["parallel"]
    assert "2 at a time" in log or "1 at a time" in log
    assert findings(serial) == findings(parallel)
    assert findings(serial)[0], "the scenario must produce findings for the comparison to mean anything"


def test_every_run_received_the_same_bytes(audits):
    serial, parallel = received(audits["serial"][0]), received(audits["parallel"][0])
    # 6 planned runs, and the 3 identity twins of unset (twins: auto: the demo sends identifiers)
    assert serial == parallel and len(serial) == 9
    assert all(len(v) == 4 for v in serial.values())


def test_the_cache_saved_upstream_fetches_and_says_so(audits):
    serial_fetches, parallel_fetches = audits["serial"][1], audits["parallel"][1]
    assert serial_fetches == 18  # 9 runs (6 + 3 twins) x 2 files, all live
    assert parallel_fetches == 2  # each file once, whatever ran at the same time
    notes = json.loads((audits["parallel"][0] / "findings.json").read_text())["notes"]
    cached = [n for n in notes if "answered from the download cache" in n]
    assert len(cached) >= 8  # every run but the one(s) that fetched
    hits = list(hit_digests(audits["parallel"][0]))
    assert len(hits) >= 16 and all(audits["files"][path] == sha for path, sha in hits)


def hit_digests(out_dir):
    from auditor import flowstore

    for run in (out_dir / "runs").glob("*/*"):
        for ex in flowstore.read_mitm(run / "flows.mitm"):
            if (ex.meta.get("egress.cache") or {}).get("status") == "hit":
                yield ex.path, hashlib.sha256(ex.response_body).hexdigest()


def test_analysis_in_workers_finds_the_same_as_in_one_process(audits, monkeypatch):
    from auditor import analysis, fanout

    dirs = analysis.find_run_dirs(audits["parallel"][0])
    one = analysis.analyze_run_dirs(dirs, jobs=1, fail_on="never")
    monkeypatch.setattr(fanout, "INLINE_BYTES", 0)
    monkeypatch.setattr(fanout, "CHUNK_BYTES", 4096)  # several chunks per run
    two = analysis.analyze_run_dirs(dirs, jobs=2, fail_on="never")
    assert [f.to_json() for f in one.findings] == [f.to_json() for f in two.findings]
    assert one.endpoints == two.endpoints and one.notes == two.notes
