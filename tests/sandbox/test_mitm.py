"""The mitmdump command line: addons in order, the download cache only when the audit has one."""

from pathlib import Path

from auditor.sandbox.mitm import ADDON_SHIM, CACHE_LINK, MitmProcess, addon_path

REPO = Path(__file__).resolve().parents[2]


def test_generated_shim_registers_the_same_addons_as_the_repository_shim(tmp_path):
    code = [l for l in (REPO / "addons/egress_recorder.py").read_text().splitlines()
            if l and not l.startswith('"""')]
    assert [l.split("#")[0].strip() for l in code] == ADDON_SHIM.strip().splitlines()
    assert addon_path(tmp_path) == str(REPO / "addons/egress_recorder.py")


def test_cache_option_follows_the_state_link(tmp_path):
    state, cache = tmp_path / "state", tmp_path / "cache"
    state.mkdir()
    cache.mkdir()
    without = MitmProcess(tmp_path / "run", "regular@127.0.0.1:0", state / "ca", ("a.example",), state)
    assert not any(a.startswith("egress_cache=") for a in without.argv)
    (state / CACHE_LINK).symlink_to(cache)
    with_cache = MitmProcess(tmp_path / "run", "regular@127.0.0.1:0", state / "ca", ("a.example",), state)
    assert f"egress_cache={cache.resolve()}" in with_cache.argv
