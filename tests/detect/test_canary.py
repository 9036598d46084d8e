import base64
import hashlib
import json
from urllib.parse import quote

import pytest

from auditor.decode.multiscan import HAVE_HYPERSCAN
from auditor.detect import Matcher, scan_layer
from auditor.decode import Layer
from auditor.identity import Identity, generate

ID = generate(seed=42)


def found(data: bytes, identity=ID, backend="auto"):
    m = Matcher(identity, backend)
    return [(h.key, h.form) for h in m.find(data)]


@pytest.mark.parametrize("make, expected", [
    (lambda: ID.hostname.encode(), ("hostname", "plain")),
    (lambda: ID.hostname.upper().encode(), ("hostname", "upper")),
    (lambda: ID.full_name.lower().encode(), ("full_name", "lower")),
    (lambda: quote(ID.project_path, safe="").encode(), ("project_path", "url")),
    (lambda: json.dumps(ID.project_path).replace("/", "\\/").encode(), ("project_path", "json-escaped")),
    (lambda: base64.b64encode(b'{"u":"' + ID.email.encode() + b'"}'), ("email", "base64")),
    (lambda: base64.urlsafe_b64encode(b"xy" + ID.aws_secret_access_key.encode()), ("aws_secret_access_key", "base64")),
    (lambda: base64.urlsafe_b64encode(b"\xfb\xff" + b"?>" * 3 + ID.email.encode() + b">>>"), ("email", "base64")),
    (lambda: ID.machine_id.upper().encode().hex().encode(), None),  # hex of the upper-cased value is not a form
    (lambda: ID.username.encode().hex().encode(), ("username", "hex")),
    (lambda: hashlib.md5(ID.email.encode()).hexdigest().encode(), ("email", "md5")),
    (lambda: hashlib.sha256(ID.project_path.encode()).hexdigest().upper().encode(), ("project_path", "sha256")),
    (lambda: base64.b64encode(hashlib.sha1(ID.hostname.encode()).digest()), ("hostname", "sha1-b64")),
    (lambda: hashlib.sha512(ID.ci_repository.encode()).hexdigest().encode(), ("ci_repository", "sha512")),
    (lambda: hashlib.sha256(ID.git_remote.split(":", 1)[1].encode()).hexdigest().encode(),
     ("git_remote", "sha256:owner/repo.git")),
    # owner/repo is also the CI repository's value: the digest belongs to that key.
    (lambda: hashlib.sha256(ID.ci_repository.encode()).hexdigest().encode(), ("ci_repository", "sha256")),
    (lambda: ("~/src/" + ID.project_name).encode(), ("project_path", "plain:tilde")),
])
def test_forms_found(make, expected):
    got = found(b"xx " + make() + b" yy")
    if expected is None:
        assert not [g for g in got if g[0] == "machine_id"]
    else:
        assert expected in got


def test_gravatar_style_digest_of_a_lower_cased_email():
    ident = Identity(email="Jane.Doe@Mail.example")
    assert found(hashlib.md5(b"jane.doe@mail.example").hexdigest().encode(), ident) == [("email", "md5:lower")]


def test_outermost_hit_of_the_same_category_wins():
    assert found(ID.fqdn.encode()) == [("fqdn", "plain")]
    assert found(ID.git_remote.encode()) == [("git_remote", "plain")]
    # A personal value inside a confidential one is a separate fact.
    assert sorted(found(ID.project_path.encode())) == [("home", "plain"), ("project_path", "plain")]


def test_guessed_digest_is_a_heuristic_digest_of_the_key():
    data = hashlib.sha256((ID.project_path + "\n").encode()).hexdigest().encode()
    ev = list(scan_layer(Layer(data, "body"), Matcher(ID)))
    assert [(e.detector, e.match, e.form, e.confidence) for e in ev] == [
        ("heuristic", "digest-of:project_path", "sha256:newline", "likely")]


def test_salted_digest_is_not_claimed():
    assert found(hashlib.sha256(b"salt" + ID.project_path.encode()).hexdigest().encode()) == []


def test_other_identities_do_not_match():
    other = generate(seed=43)
    blob = json.dumps(other.to_json()).encode()
    assert found(blob) == []


def test_empty_and_short_values_are_not_searched():
    m = Matcher(Identity(username="bob", hostname=""))
    assert len(m) == 0 and m.find(b"bob bob") == []


@pytest.mark.skipif(not HAVE_HYPERSCAN, reason="needs both backends")
def test_backends_agree():
    data = b" ".join([ID.hostname.encode(), base64.b64encode(ID.email.encode()),
                      hashlib.md5(ID.username.encode()).hexdigest().encode()])
    assert sorted(found(data, backend="re")) == sorted(found(data, backend="hyperscan"))


def test_evidence_is_masked():
    data = b'{"host": "' + ID.hostname.encode() + b'"}'
    ev = list(scan_layer(Layer(data, "body", chain=("json",), fmt="json"), Matcher(ID)))
    assert ev[0].location == "body:$.host" and ev[0].excerpt.endswith("***")
    assert ID.hostname not in ev[0].excerpt and len(ev[0].value_digest) == 64
