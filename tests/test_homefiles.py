"""What a run left in HOME: bounded, small text files inline, package trees counted only."""

import json

from auditor import homefiles


def test_snapshot_and_search(tmp_path):
    home, run_dir = tmp_path / "home", tmp_path / "run"
    (home / ".config/tool").mkdir(parents=True)
    (home / ".config/tool/user_id").write_text("c7e516e11ea94bd6a4c6c0f0e1a9b2d3\n")
    (home / ".config/tool/state.json").write_text(json.dumps({"id": "quote\"d-id-123456"}))
    (home / "src/p/node_modules/x").mkdir(parents=True)
    (home / "src/p/node_modules/x/index.js").write_text("c7e516e11ea94bd6a4c6c0f0e1a9b2d3")
    (home / "big.bin").write_bytes(b"\0" * 100)
    (home / "link").symlink_to("/etc/passwd")
    run_dir.mkdir()
    homefiles.snapshot(home, run_dir)
    doc = json.loads((run_dir / homefiles.FILENAME).read_text())
    paths = {f["path"]: f for f in doc["files"]}
    assert "text" not in paths["big.bin"] and paths["link"]["kind"] == "link" and "text" not in paths["link"]
    assert doc["bulk"] == {"src/p/node_modules": 1}
    stored = homefiles.load(run_dir)
    assert homefiles.where_stored("c7e516e11ea94bd6a4c6c0f0e1a9b2d3", stored) == ["~/.config/tool/user_id"]
    assert homefiles.where_stored('quote"d-id-123456', stored) == ["~/.config/tool/state.json"]
    assert homefiles.where_stored("short", stored) == []


def test_snapshot_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(homefiles, "MAX_FILES", 5)
    monkeypatch.setattr(homefiles, "MAX_TOTAL_BYTES", 10)
    home, run_dir = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    run_dir.mkdir()
    for i in range(20):
        (home / f"f{i:02}").write_text("x" * 4)
    homefiles.snapshot(home, run_dir)
    doc = json.loads((run_dir / homefiles.FILENAME).read_text())
    assert len(doc["files"]) == 5 and doc["truncated"]
    assert sum(1 for f in doc["files"] if "text" in f) == 2  # 10 bytes of contents at most


def test_names_that_are_not_utf8_stay_valid_json(tmp_path):
    home, run_dir = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    run_dir.mkdir()
    (home / b"bad-\xff-name".decode("utf-8", "surrogateescape")).write_text("id-0123456789")
    homefiles.snapshot(home, run_dir)
    assert json.loads((run_dir / homefiles.FILENAME).read_text())["files"][0]["size"] == 13


def test_no_snapshot_no_files(tmp_path):
    assert homefiles.load(tmp_path) == []
