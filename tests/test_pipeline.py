"""Planning an audit: groups that may run in parallel, --jobs auto, shards, repeats and identity
twins of the base variant."""

from pathlib import Path

import pytest

from auditor import pipeline, scenario
from auditor.identity import TWIN_PARTS, generate
from auditor.scenario import load


@pytest.fixture
def plans(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("schema_version: 1\nname: s\nsteps: [{run: 'true'}]\nvariants: [unset, dnt, ci]\nrepeat: 2\n")
    return pipeline.plan([load(p)], (), generate(1))


def test_repeats_of_a_variant_stay_in_one_group(plans):
    assert [[p.name for p in g] for g in pipeline.groups_of(plans)] == [["unset", "unset-3", "unset-2"], ["dnt"], ["ci"]]
    assert [p.name for p in pipeline.shard(plans, "1/2")] == ["unset", "unset-3", "unset-2", "ci"]


@pytest.mark.parametrize("groups, cores, memory_gib, jobs", [
    (5, 2, 24, 2),  # this machine: cores limit
    (5, 16, 3.5, 3),  # memory limits (1 GiB per run)
    (2, 16, 64, 2),  # never more than there are groups
    (5, 4, 0.2, 1),  # always at least one
])
def test_auto_jobs(monkeypatch, groups, cores, memory_gib, jobs):
    monkeypatch.setattr(pipeline.os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(pipeline, "_available_memory", lambda: int(memory_gib * (1 << 30)))
    assert pipeline.auto_jobs(groups) == jobs


def test_available_memory_is_read_from_the_kernel():
    assert pipeline._available_memory() > 0


def sc(tmp_path, extra=""):
    p = tmp_path / "s.yaml"
    p.write_text("schema_version: 1\nname: s\nsteps: [{run: 'true'}]\nconsent: {denied: {env: {X: '0'}}}\n" + extra)
    return scenario.load(p)


def names(plans):
    return [p.name for p in plans]


def test_twins_always_are_planned_after_repeats(tmp_path):
    plans = pipeline.plan([sc(tmp_path, "repeat: 2\ntwins: always\n")], ("unset", "denied"), generate(1))
    assert names(plans) == ["unset", "unset-3", "unset-2", "unset-twin-machine", "unset-twin-user",
                            "unset-twin-project", "denied"]
    twins = {p.twin: p.identity for p in plans if p.twin}
    base = plans[0].identity
    for part, keys in TWIN_PARTS.items():
        changed = {k for k, v in twins[part].values().items() if base.values().get(k) != v}
        assert changed and changed <= set(keys) | {"project_path", "home"}, (part, changed)


@pytest.mark.parametrize("twins", ["auto", "never"])
def test_auto_and_never_plan_no_twins(tmp_path, twins):
    assert names(pipeline.plan([sc(tmp_path, f"twins: {twins}\n")], (), generate(1))) == [
        "unset", "denied", "dnt", "ci", "tty", "untrusted-ca"]


def test_a_shard_keeps_the_base_runs_and_twins_together(tmp_path):
    plans = pipeline.plan([sc(tmp_path, "repeat: 2\ntwins: always\n")], (), generate(1))
    shards = [pipeline.shard(plans, f"{i}/3") for i in (1, 2, 3)]
    holding = [s for s in shards if any(p.name == "unset" for p in s)]
    assert len(holding) == 1 and {p.name for p in holding[0]} >= {"unset", "unset-2", "unset-3", "unset-twin-user"}
    assert sorted(p.name for s in shards for p in s) == sorted(names(plans))


def test_auto_twins_follow_a_run_that_sent_an_identifier(tmp_path, monkeypatch):
    s = sc(tmp_path)
    first = pipeline.plan([s], ("unset",), generate(1))
    monkeypatch.setattr(pipeline.analysis, "sends_identifiers", lambda d: d == Path("sent"))
    assert names(pipeline._with_twins(first, [Path("sent")])) == [
        "unset", "unset-twin-machine", "unset-twin-user", "unset-twin-project"]
    assert names(pipeline._with_twins(first, [Path("quiet")])) == ["unset"]
