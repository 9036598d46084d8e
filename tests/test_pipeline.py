"""Planning an audit: groups that may run in parallel, --jobs auto, shards."""

import pytest

from auditor import pipeline
from auditor.identity import generate
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
