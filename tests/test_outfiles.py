"""The auditor's own files: 0600/0700 whatever the umask, never written through a planted link."""

import os
import stat

import pytest

from auditor import outfiles
from auditor.errors import UsageError
from auditor.report import render_all

from .report.conftest import make_audit


@pytest.fixture
def open_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_files_and_dirs_are_private_whatever_the_umask(tmp_path, open_umask):
    d = outfiles.make_dirs(tmp_path / "out", "runs", "s", "unset")
    f = outfiles.write_text(d / "run.json", "{}\n")
    with outfiles.open_append(d / "output.jsonl") as fo:
        fo.write("x\n")
    assert mode(tmp_path / "out" / "runs") == mode(d) == 0o700
    assert mode(f) == mode(d / "output.jsonl") == 0o600


def test_a_planted_link_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "findings.json").symlink_to(victim)
    outfiles.write_text(out / "findings.json", "report")
    assert victim.read_text() == "precious"
    assert not (out / "findings.json").is_symlink() and (out / "findings.json").read_text() == "report"


def test_appending_never_follows_a_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "output.jsonl").symlink_to(victim)
    with pytest.raises(OSError):
        outfiles.open_append(tmp_path / "output.jsonl")
    assert victim.read_text() == "precious"


def test_a_linked_directory_inside_the_output_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "runs").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="symbolic link"):
        outfiles.make_dirs(out, "runs", "s")
    assert list(elsewhere.iterdir()) == []


def test_the_output_root_may_be_a_link_the_user_chose(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert outfiles.make_dirs(tmp_path / "link", "runs").is_dir()
    assert (real / "runs").is_dir()


def test_reports_are_private(tmp_path, open_umask):
    written = render_all(make_audit(), tmp_path / "out", ("html", "json", "sarif", "junit", "md"))
    assert written and all(mode(p) == 0o600 for p in written)
    assert mode(tmp_path / "out") == 0o700


def test_reading_refuses_links_and_fifos(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "fifo")
    for name in ("fifo", "link"):
        with pytest.raises(OSError):
            outfiles.open_read(tmp_path / name)  # would block forever on a FIFO nobody writes


def test_merge_copies_links_as_links_and_refuses_linked_run_dirs(tmp_path):
    import subprocess
    import sys

    from .captures import http_flow, run_dir

    secret = tmp_path / "secret.txt"
    secret.write_text("host file the merge must not copy")
    shard = tmp_path / "shard"
    d = run_dir(shard, [http_flow()])
    (d / "output.jsonl").symlink_to(secret)
    out = tmp_path / "merged"
    r = subprocess.run([sys.executable, "-m", "auditor", "merge", shard, "--out", out, "--format", "json"],
                       capture_output=True, text=True, timeout=120)
    copied = out / "runs" / "hostile" / "unset" / "output.jsonl"
    assert copied.is_symlink() and r.returncode in (0, 1), r.stderr
    assert mode(out / "runs" / "hostile" / "unset") == 0o700
    linked = tmp_path / "linked"
    (linked / "runs" / "hostile").mkdir(parents=True)
    (linked / "runs" / "hostile" / "unset").symlink_to(d)
    r = subprocess.run([sys.executable, "-m", "auditor", "merge", linked, "--out", tmp_path / "m2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "symbolic link" in r.stderr, r.stderr
