"""The canary identity planted in every variant (SPEC §5).

Every value carries a random part unique to the audit, so finding it in traffic is proof it came
from the sandbox. Values the sandbox cannot plant (the MAC address, the host's machine-id and
hostname in proxy mode) are read from the machine and searched for too.
"""

from __future__ import annotations

import hashlib
import random
import socket
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import yamlsafe
from .errors import UsageError

# Which rule family a value belongs to when it is seen in traffic.
PERSONAL = ("username", "full_name", "email", "home", "machine_id", "mac", "ci_actor",
            "real_machine_id", "real_mac", "real_username")
CONFIDENTIAL = ("hostname", "fqdn", "project_name", "project_path", "git_remote",
                "internal_domain", "ci_repository", "git_root_commit", "real_hostname")
CREDENTIAL = ("aws_access_key_id", "aws_secret_access_key", "github_token", "npm_token")
KEYS = PERSONAL + CONFIDENTIAL + CREDENTIAL

_FIRST = ("oriane", "tamsin", "eliska", "corwin", "ysolde", "bertil", "mireille", "anselm")
_CONS, _VOW = "bdfgklmnprstvz", "aeiou"


def category(key: str) -> str:
    if key in CREDENTIAL:
        return "credential"
    if key in CONFIDENTIAL:
        return "confidential"
    return "personal"


@dataclass(frozen=True)
class Identity:
    username: str = ""
    full_name: str = ""
    email: str = ""
    hostname: str = ""
    fqdn: str = ""
    home: str = ""
    project_name: str = ""
    project_path: str = ""
    git_remote: str = ""
    machine_id: str = ""
    internal_domain: str = ""
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""
    github_token: str = ""
    npm_token: str = ""
    ci_repository: str = ""
    ci_actor: str = ""
    git_root_commit: str = ""  # planted per run (the project's first commit): tools hash it as a project id
    mac: str = ""  # a locally administered canary MAC, planted where the sandbox owns the network namespace
    # Values of the real machine that the sandbox may not be able to hide.
    real: dict[str, str] = field(default_factory=dict)

    def values(self) -> dict[str, str]:
        """Every searchable value by key, planted and real, skipping empty ones."""
        out = {k: v for k, v in asdict(self).items() if k != "real" and v}
        out.update({k: v for k, v in self.real.items() if v})
        return out

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Identity":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def with_home(self, home: str) -> "Identity":
        """The same identity rooted at a concrete HOME (paths are planted per variant)."""
        project_path = f"{home}/src/{self.project_name}"
        data = self.to_json()
        data.update(home=home, project_path=project_path)
        return Identity.from_json(data)


# What each identity twin changes (attribution by intervention): an extra run of the base variant
# with one part of the identity replaced tells which part an opaque identifier follows.
TWIN_PARTS: dict[str, tuple[str, ...]] = {
    "machine": ("machine_id", "hostname", "fqdn", "mac"),
    "user": ("username", "full_name", "email", "home", "ci_actor"),
    "project": ("project_name", "project_path", "git_remote", "ci_repository", "git_root_commit"),
}


def twin(identity: Identity, part: str) -> Identity:
    """The identity with one part replaced by fresh canary values, reproducibly (the same identity
    gives the same twins). HOME, the project path and the root commit follow at plant time."""
    seed = int.from_bytes(hashlib.sha256(f"{part}\0{sorted(identity.values().items())}".encode()).digest()[:8], "big")
    other = generate(seed)
    data = identity.to_json()
    for key in TWIN_PARTS[part]:
        if key in ("home", "project_path"):
            continue  # derived from the user name and project name by with_home()
        if key == "fqdn":
            data[key] = f"{other.hostname}.{identity.internal_domain}"
        elif key == "ci_repository":
            data[key] = f"{identity.ci_repository.split('/')[0]}/{other.project_name}"
        elif key == "git_root_commit":
            data[key] = ""  # a new project has a new first commit
        else:
            data[key] = getattr(other, key)
    if part == "user":
        data["home"] = identity.home.replace(identity.username, other.username)
    if part in ("user", "project"):
        home = data["home"] or identity.home
        data["project_path"] = f"{home}/src/{data['project_name']}"
    return Identity.from_json(data)


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_CONS) + rng.choice(_VOW) for _ in range(syllables))


def _token(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def generate(seed: int | None = None) -> Identity:
    """A fresh canary identity; the same seed gives the same identity."""
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    first = rng.choice(_FIRST)
    surname = _word(rng, 3)
    tag = _token(rng, string.ascii_lowercase + string.digits, 4)
    username = f"{first}{tag}"
    domain = f"corp-{_word(rng, 2)}{_token(rng, string.digits, 2)}.example"
    hostname = f"ws-{_word(rng, 2)}{_token(rng, string.digits, 3)}"
    project = f"{_word(rng, 2)}-{_word(rng, 3)}-{tag[::-1]}"
    org = f"{_word(rng, 2)}-platform"
    alnum = string.ascii_letters + string.digits
    return Identity(
        username=username,
        full_name=f"{first.capitalize()} {surname.capitalize()}",
        email=f"{first}.{surname}@mail-{_word(rng, 2)}.example",
        hostname=hostname,
        fqdn=f"{hostname}.{domain}",
        home=f"/home/{username}",
        project_name=project,
        project_path=f"/home/{username}/src/{project}",
        git_remote=f"git@git.{domain}:{org}/{project}.git",
        machine_id=_token(rng, "0123456789abcdef", 32),
        internal_domain=domain,
        aws_access_key_id="AKIA" + _token(rng, string.ascii_uppercase + "234567", 16),
        aws_secret_access_key=_token(rng, alnum + "+/", 40),
        github_token="ghp_" + _token(rng, alnum, 36),
        npm_token="npm_" + _token(rng, alnum, 36),
        ci_repository=f"{org}/{project}",
        ci_actor=f"{first}-{surname}",
        mac="02:" + ":".join(_token(rng, "0123456789abcdef", 2) for _ in range(5)),
    )


def read_real() -> dict[str, str]:
    """Values of this machine that may leak past the sandbox."""
    real: dict[str, str] = {}
    try:
        real["real_machine_id"] = Path("/etc/machine-id").read_text().strip()
    except OSError:
        pass
    real["real_hostname"] = socket.gethostname()
    macs = []
    for dev in sorted(Path("/sys/class/net").glob("*/address")):
        mac = dev.read_text().strip()
        if mac and mac != "00:00:00:00:00:00":
            macs.append(mac)
    if macs:
        real["real_mac"] = macs[0]
    # Generic names would match everything; only distinctive real values are worth searching.
    return {k: v for k, v in real.items() if len(v) >= 6 and v not in ("localhost", "debian")}


def load_file(path: str | Path) -> Identity:
    """An identity file for `analyze --identity` (YAML mapping with SPEC §5 keys)."""
    try:
        data = yamlsafe.load(Path(path).read_text(encoding="utf-8"), str(path))
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"{path}: cannot read identity file: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of identity keys (e.g. username: alice)")
    fields = set(Identity.__dataclass_fields__) - {"real"}
    extra: dict[str, str] = {}
    known: dict[str, str] = {}
    for k, v in data.items():
        if not isinstance(v, (str, int)):
            raise UsageError(f"{path}: {k}: expected a string")
        if k in fields:
            known[k] = str(v)
        elif k in ("mac", "real_mac", "real_hostname", "real_machine_id", "real_username"):
            extra[k if k.startswith("real_") else "real_mac"] = str(v)
        else:
            raise UsageError(f"{path}: {k}: unknown identity key (expected one of: {', '.join(sorted(fields))})")
    return Identity(real=extra, **known)
