import base64
import hashlib

import pytest

from auditor.detect.forms import b64_cores, forms_of, git_forms, normal_forms


def test_git_remote_normal_forms():
    forms = dict((s, n) for n, s in git_forms("git@git.corp.example:org/proj.git"))
    assert forms["https://git.corp.example/org/proj"] == "https"
    assert forms["git.corp.example/org/proj"] == "host/path"
    assert forms["org/proj"] == "owner/repo" and forms["org/proj.git"] == "owner/repo.git"
    assert dict((s, n) for n, s in git_forms("https://git.corp.example/org/proj"))["org/proj.git"] == "owner/repo.git"


def test_path_and_id_normal_forms():
    assert ("basename", "my-project") in normal_forms("project_path", "/home/u/src/my-project", "/home/u")
    assert ("tilde", "~/src/my-project") in normal_forms("project_path", "/home/u/src/my-project", "/home/u")
    assert ("uuid", "0123abcd-0123-abcd-0123-abcd0123abcd") in normal_forms("machine_id", "0123abcd0123abcd0123abcd0123abcd")
    assert ("bare", "3c22fb123456") in normal_forms("real_mac", "3c:22:fb:12:34:56")


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b'{"user":"'])
def test_base64_cores_match_at_every_alignment(prefix):
    value = b"oriane.bakudo@mail.example"
    blob = base64.b64encode(prefix + value + b'", "more": 1}')
    assert any(core in blob for core in b64_cores(value))


def test_forms_cover_digests_of_normal_forms():
    forms = {(f.form, f.pattern) for f in forms_of("git_remote", "git@h.example:org/proj.git")}
    assert ("sha256:owner/repo", hashlib.sha256(b"org/proj").hexdigest().encode()) in forms
    assert ("md5:owner/repo.git", hashlib.md5(b"org/proj.git").hexdigest().encode()) in forms
    b64 = base64.b64encode(hashlib.sha256(b"org/proj").digest()).rstrip(b"=")
    assert ("sha256-b64:owner/repo", b64) in forms


def test_email_digest_of_lower_case():
    forms = {(f.form, f.pattern) for f in forms_of("email", "Jane.Doe@Mail.example")}
    assert ("md5:lower", hashlib.md5(b"jane.doe@mail.example").hexdigest().encode()) in forms


def test_short_values_and_taken_normal_forms_are_skipped():
    assert forms_of("username", "bob") == []
    forms = forms_of("project_path", "/home/u/src/proj-name", taken=frozenset({"proj-name"}))
    assert not any(f.form.endswith(":basename") for f in forms)
