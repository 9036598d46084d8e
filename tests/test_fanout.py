"""Analysis in worker processes gives the findings of analysis in one process."""

import functools
import importlib.util
import os
import signal
from pathlib import Path

import pytest
from mitmproxy import io
from mitmproxy.test import tflow

from auditor import analysis, fanout
from auditor.identity import load_file

ROOT = Path(__file__).resolve().parents[1]


def synthetic():
    spec = importlib.util.spec_from_file_location("synthetic_capture", ROOT / "benchmarks" / "synthetic_capture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def as_json(audit):
    return [f.to_json() for f in audit.findings], [(r.name, r.flows) for r in audit.runs], audit.notes


@pytest.fixture
def forced_workers(monkeypatch):
    monkeypatch.setattr(fanout, "INLINE_BYTES", 0)  # workers even for a small test capture
    monkeypatch.setattr(fanout, "CHUNK_BYTES", 64 << 10)


def test_workers_find_what_one_process_finds(tmp_path, forced_workers):
    gen = synthetic()
    a = gen.write(tmp_path / "a.mitm", 1000)  # planted leaks at flows 0 and 997
    b = tmp_path / "b.mitm"
    with open(b, "wb") as fo:
        w = io.FlowWriter(fo)
        for make in (lambda: tflow.tflow(resp=True), tflow.ttcpflow, tflow.twebsocketflow, tflow.tdnsflow):
            w.add(make())
    ident = load_file(a.with_name("a.identity.yaml"))
    [(facts, _, problems)] = fanout.analyse([(a, fanout.Context("imported", "a", None))], 2)
    assert len(facts) == 1000 and problems == []
    one = analysis.analyze_captures([a, b], ident, jobs=1)
    two = analysis.analyze_captures([a, b], ident, jobs=2)
    assert as_json(one) == as_json(two)
    assert [r.flows for r in two.runs] == [1000, 4]
    assert {f.evidence.match for f in two.findings if f.evidence} >= {"hostname"}


def test_facts_kept_by_the_parent_carry_no_bodies(tmp_path, forced_workers):
    path = synthetic().write(tmp_path / "a.mitm", 50)
    [(facts, _, _)] = fanout.analyse([(path, fanout.Context("imported", "a", None))], 2)
    assert len(facts) == 50 and all(x.ex.request_body == b"" and x.ex.response_body == b"" for x in facts)
    assert all(x.has_payload for x in facts)  # decided in the worker, from the body it had


@pytest.mark.parametrize("damage", ["torn", "garbage record"])
def test_damage_keeps_the_flows_before_it_as_one_process_does(tmp_path, forced_workers, damage):
    path = synthetic().write(tmp_path / "a.mitm", 400)
    data = path.read_bytes()
    records = fanout.mitmfile.split(path, 1)[0]
    cut = records[300][0]  # flows 0..299 are whole
    if damage == "torn":
        path.write_bytes(data[:cut + 50])
    else:  # a record whose length is right but whose content is no flow: the rest is lost too
        bogus = b"11:hello world,"
        path.write_bytes(data[:cut] + f"{len(bogus)}:".encode() + bogus + b"}" + data[cut:])
    one = analysis.analyze_captures([path], None, jobs=1)
    two = analysis.analyze_captures([path], None, jobs=2)
    for audit in (one, two):
        [run] = audit.runs
        assert run.flows == 300 and not run.complete
        assert "a.mitm: damaged or torn after 300 whole flow(s)" in run.problems[0]
    assert as_json(one) == as_json(two)


def test_a_worker_that_dies_costs_its_chunk_only(tmp_path):
    path = synthetic().write(tmp_path / "a.mitm", 600)
    ranges, n, _ = fanout.mitmfile.split(path, 64 << 10)
    ctx = fanout.Context("imported", "a", None)
    tasks = [fanout.Task(path, a, b, ctx, 1 / len(ranges)) for a, b in ranges]
    chunks = list(fanout._pooled(tasks, 2, work=_killer_for(ranges[2][0])))
    assert [c.records for c in chunks] == [len(list(fanout.mitmfile.records(path, a, b))) for a, b in ranges]
    dead = [x for c in chunks for x in c.facts if x.uninspected]
    assert len(dead) == chunks[2].records and all("worker process" in x.uninspected[0] for x in dead)
    assert [bool(c.problems) for c in chunks] == [i == 2 for i in range(len(ranges))]
    assert f"bytes {ranges[2][0]}-{ranges[2][1]}" in chunks[2].problems[0]


def _killer_for(start):
    return functools.partial(_kill_on, start)


def _kill_on(start, task):
    """A worker that dies (SIGKILL, as the kernel's OOM killer would) on one chunk."""
    if task.start == start:
        os.kill(os.getpid(), signal.SIGKILL)
    return fanout._work(task)


def test_a_small_last_chunk_after_big_downloads_is_inspected_whole(tmp_path, forced_workers):
    # A real install: megabytes of package downloads, then one small telemetry post in the last,
    # tiny chunk. Its share of the run's budget must not be the byte share (astro: 1 evidence left,
    # reported as not inspected).
    gen = synthetic()
    post = gen.write(tmp_path / "post.mitm", 1)  # flow 0 carries the planted host name
    path = tmp_path / "install.mitm"
    with open(path, "wb") as fo:
        w = io.FlowWriter(fo)
        for i in range(120):
            f = tflow.tflow(resp=True)
            f.request.path = f"/pkg-{i}.tgz"
            f.response.content = os.urandom(512 << 10)
            w.add(f)
        fo.write(post.read_bytes())
    ident = load_file(post.with_name("post.identity.yaml"))
    one = analysis.analyze_captures([path], ident, jobs=1)
    two = analysis.analyze_captures([path], ident, jobs=2)
    assert one.complete and two.complete, two.problems
    assert as_json(one) == as_json(two)
    assert "hostname" in {f.evidence.match for f in two.findings if f.evidence}
