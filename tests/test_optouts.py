"""The consent catalog (derived from toptout): lookup, scaffolds, and documented promises."""

import json
from importlib import resources

import pytest

from auditor import optouts, scenario


def test_the_catalog_ships_with_its_attribution_and_licence():
    data = resources.files("auditor").joinpath("data")
    doc = json.loads(data.joinpath("optouts.json").read_text())
    assert doc["source"]["name"] == "toptout" and doc["source"]["licence"] == "MIT"
    assert "beatcracker" in doc["source"]["copyright"]
    assert "MIT License" in data.joinpath(doc["source"]["licence_file"]).read_text()
    assert len(optouts.catalog()) == 152


@pytest.mark.parametrize("query, product", [("nextjs", "nextjs"), ("Next.js", "nextjs"), ("next", "nextjs"),
                                            ("DVC", "dvc"), ("no-such-tool", None), ("", None)])
def test_find(query, product):
    found = optouts.find(query)
    assert (found.id if found else None) == product


def test_every_scaffold_is_a_valid_scenario(tmp_path):
    for p in optouts.catalog():
        path = tmp_path / f"{p.id}.yaml"
        path.write_text(optouts.scaffold("x", p))
        sc = scenario.load(path)  # raises on any schema error
        env, run = p.merged("opt_out")
        if env:
            assert dict(sc.denied.env) == env
        elif run:
            assert list(sc.denied.run) == run


@pytest.mark.parametrize("variant, how, software, words", [
    ("denied", {"env": {"NEXT_TELEMETRY_DISABLED": "1"}}, "", "NEXT_TELEMETRY_DISABLED=1 of Next.js"),
    ("denied", {"run": ["npx next telemetry disable"]}, "next", "npx next telemetry disable of Next.js"),
    ("denied", {"env": {"MY_OWN_SWITCH": "0"}}, "", ""),               # not a documented opt-out
    ("denied", {"env": {"DO_NOT_TRACK": "1"}}, "", ""),               # shared by many: names no product
    ("dnt", None, "no-such-tool", ""),
])
def test_promise(variant, how, software, words):
    got = optouts.promise(variant, how, software)
    assert (words in got) if words else got == ""
    if words:
        assert "toptout" in got


def test_dnt_promise_of_a_tool_that_documents_it():
    documents = [p for p in optouts.catalog() if "DO_NOT_TRACK" in p.merged("opt_out")[0]]
    assert documents, "the catalog lists tools that document DO_NOT_TRACK"
    assert "DO_NOT_TRACK=1" in optouts.promise("dnt", None, documents[0].id)
