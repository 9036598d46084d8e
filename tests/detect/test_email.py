import pytest

from .helpers import kinds


@pytest.mark.parametrize("text, found", [
    ('{"email": "jane.doe@gmail.com"}', ["jane.doe@gmail.com"]),
    ("contact: Jane.Doe+news@Mail.Corp-X.co.uk.", ["Jane.Doe+news@Mail.Corp-X.co.uk"]),
    ("a@b.io", ["a@b.io"]),
    ("uid=oriane.bakudo%40mail.example", []),  # still percent-encoded: the query layer decodes it
    ("x" * 70 + "@gmail.com", ["x" * 64 + "@gmail.com"]),  # a local part is 64 characters at most
    ("to: <bob@mail.corp.io>", ["bob@mail.corp.io"]),
])
def test_emails(text, found):
    assert [t for k, t in kinds(text) if k == "email"] == found


@pytest.mark.parametrize("text", [
    "git@github.com:owner/repo.git",  # an scp-style remote, not a person
    "noreply@github.com", "user@example.com", "someone@localhost",
    "logo@2x.png", "icon@3x.webp", "npm install pkg@1.2.3", "@astrojs/telemetry@5.1.0",
    "https://user:pass@host.example.com/", "a..b@gmail.com", "user@host",
])
def test_not_emails(text):
    assert [k for k, _ in kinds(text) if k == "email"] == []
