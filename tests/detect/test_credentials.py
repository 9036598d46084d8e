import base64
import json

import pytest

from .helpers import kinds

ALNUM36 = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"


def jwt(header, payload, sig="c2lnbmF0dXJlLWJ5dGVz"):
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc(header)}.{enc(payload)}.{sig}"


@pytest.mark.parametrize("text, kind", [
    ("AKIA2CEUVW75EFR6EDT4", "aws-access-key"),
    ("aws_secret_access_key = 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", "aws-secret-key"),
    (f"token ghp_{ALNUM36}", "github-token"),
    (f"gho_{ALNUM36}", "github-token"),
    ("github_pat_11ABCDEFG0123456789abc_" + "a1B2c3D4e5" * 5 + "f6G7h8I9j", "github-token"),
    (f"//npm.registry.example/:_authToken=npm_{ALNUM36}", "npm-token"),
    ("glpat-Ab3De5Fg7Hj9Kl1Mn2Pq", "gitlab-token"),
    ("pypi-AgEIcHlwaS5vcmc" + "Ab3De5Fg7Hj9" * 5, "pypi-token"),
    ("xoxb-1234567890-1234567890123-Ab3De5Fg7Hj9Kl1Mn2Pq", "slack-token"),
    ("https://hooks.slack.com/services/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", "slack-webhook"),
    ("sk_live_Ab3De5Fg7Hj9Kl1Mn2PqRs4T", "stripe-key"),
    ("Bearer " + jwt({"alg": "HS256", "typ": "JWT"}, {"sub": "1234567890"}), "jwt"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n", "private-key"),
    ("-----BEGIN PRIVATE KEY-----", "private-key"),
])
def test_credential_formats(text, kind):
    assert [k for k, _ in kinds(text)] == [kind]


@pytest.mark.parametrize("text", [
    "AKIAIOSFODNN7EXAMPLE",  # the AWS documentation example
    "9fceb02d0ae598e95dc970b74767f19372d61af8",  # a git sha is not a secret
    "123e4567-e89b-12d3-a456-426614174000",  # a UUID
    "kQ8Zr7ofT2mXq1eLwV3nB6cY9aZ",  # a random session id
    f"xghp_{ALNUM36}", f"ghp_{ALNUM36}x",  # parts of longer tokens
    "ghp_short", "npm_install", "-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----",
    "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",  # header is not a JOSE header
    "sk_test_Ab3De5Fg7Hj9Kl1Mn2PqRs4T",
    "ghp_" + "aB3dExampleG7hJ9kL1mN2pQ4rS6tU8vW0xY", "ghp_" + "aB3dE5fG7hJ9kL1mxXxXxXxXQ4rS6tU8vW0x",  # examples, any case
    "npm_" + "000000000000000000001234567890abcdef",  # a zeroed placeholder
])
def test_not_credentials(text):
    assert kinds(text) == []
