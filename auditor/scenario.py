"""Scenario files (schema_version 1): parsed once at the edge into frozen dataclasses.

Validation walks the YAML *node* tree rather than the loaded Python values, so every error can
name the file, the line and the dotted key path (``steps[1].timeout``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from . import yamlsafe
from .errors import ScenarioError
from .variants import BUILTIN, NAMES as VARIANT_NAMES

NAME_RE = re.compile(r"^(?!\.{1,2}$)[a-z0-9._-]{1,100}$")  # names a directory: never "." or ".."
DEFAULT_TIMEOUT = 120.0
# auto: twin runs only when the first unset run sent an identifier-like value somewhere undeclared.
TWINS = ("auto", "always", "never")


@dataclass(frozen=True)
class Answer:
    expect: re.Pattern[str]
    send: str


@dataclass(frozen=True)
class Step:
    name: str
    run: str
    timeout: float = DEFAULT_TIMEOUT
    tty: bool = False
    answers: tuple[Answer, ...] = ()
    expect_exit: int | None = 0  # None means "any"


@dataclass(frozen=True)
class Consent:
    env: tuple[tuple[str, str], ...] = ()
    run: tuple[str, ...] = ()


@dataclass(frozen=True)
class Software:
    name: str = ""
    version: str = ""
    homepage: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    steps: tuple[Step, ...]
    description: str = ""
    software: Software = field(default_factory=Software)
    files: tuple[tuple[str, str], ...] = ()
    denied: Consent | None = None
    granted: Consent | None = None
    variants: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    expect_telemetry: tuple[str, ...] = ()
    expect_functional: tuple[str, ...] = ()
    notice: re.Pattern[str] | None = None
    repeat: int = 1
    # Line of each step, variant and consent entry ("step:<name>", "variant:<name>", "consent:denied",
    # "name"): reports point into this file (SARIF regions).
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
    twins: str = "auto"  # auto | always | never: identity twins of the unset run (see TWINS)

    @property
    def dir(self) -> Path:
        return self.path.parent

    @property
    def source_root(self) -> Path | None:
        """The repository (git work tree) holding the file: report paths are relative to it."""
        return next((p for p in self.path.parents if (p / ".git").exists()), None)

    def applicable_variants(self) -> tuple[str, ...]:
        """Built-in variants that make sense for this scenario (denied/granted need consent)."""
        return tuple(v.name for v in BUILTIN.values() if not v.consent or getattr(self, v.consent) is not None)


class _Ctx:
    """Carries the file name so every check can raise a precise ScenarioError."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, node: yaml.Node | None, key: str, msg: str) -> ScenarioError:
        line = node.start_mark.line + 1 if node is not None else None
        return ScenarioError(self.path, line, key, msg)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "empty"
    return f"{node.tag.rsplit(':', 1)[-1]} {node.value!r}"


def _scalar(ctx: _Ctx, node: yaml.Node, key: str, types: tuple[str, ...], what: str) -> Any:
    if not isinstance(node, yaml.ScalarNode) or node.tag.rsplit(":", 1)[-1] not in types:
        raise ctx.fail(node, key, f"expected {what}, got {_kind(node)}")
    return _construct(node)


def _construct(node: yaml.ScalarNode) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _str(ctx: _Ctx, node: yaml.Node, key: str) -> str:
    return _scalar(ctx, node, key, ("str",), "a string")


def _bool(ctx: _Ctx, node: yaml.Node, key: str) -> bool:
    return _scalar(ctx, node, key, ("bool",), "true or false")


def _int(ctx: _Ctx, node: yaml.Node, key: str) -> int:
    return _scalar(ctx, node, key, ("int",), "an integer")


def _positive(ctx: _Ctx, node: yaml.Node, key: str) -> float:
    value = _scalar(ctx, node, key, ("int", "float"), "a number of seconds")
    if not math.isfinite(value):  # .nan compares false with everything; .inf never ends
        raise ctx.fail(node, key, f"must be a finite number of seconds, got {value}")
    if value <= 0:
        raise ctx.fail(node, key, f"must be greater than 0, got {value}")
    return float(value)


def _regex(ctx: _Ctx, node: yaml.Node, key: str) -> re.Pattern[str]:
    text = _str(ctx, node, key)
    try:
        return re.compile(text)
    except re.error as e:
        raise ctx.fail(node, key, f"invalid regular expression: {e}") from None


def _list(ctx: _Ctx, node: yaml.Node, key: str, item: Callable[[_Ctx, yaml.Node, str], Any]) -> list:
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.fail(node, key, f"expected a list, got {_kind(node)}")
    return [item(ctx, n, f"{key}[{i}]") for i, n in enumerate(node.value)]


def _mapping(
    ctx: _Ctx, node: yaml.Node, key: str, known: dict[str, Callable], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise ctx.fail(node, key or "(top level)", f"expected a mapping, got {_kind(node)}")
    out: dict[str, Any] = {}
    for knode, vnode in node.value:
        name = knode.value if isinstance(knode, yaml.ScalarNode) else None
        path = f"{key}.{name}" if key else str(name)
        if name not in known:
            hint = ", ".join(sorted(known))
            raise ctx.fail(knode, path, f"unknown key (expected one of: {hint})")
        if name in out:
            raise ctx.fail(knode, path, "duplicate key")
        out[name] = known[name](ctx, vnode, path)
    for name in required:
        if name not in out:
            raise ctx.fail(node, f"{key}.{name}" if key else name, "required key is missing")
    return out


def _str_map(ctx: _Ctx, node: yaml.Node, key: str) -> dict[str, str]:
    if not isinstance(node, yaml.MappingNode):
        raise ctx.fail(node, key, f"expected a mapping, got {_kind(node)}")
    out = {}
    for knode, vnode in node.value:
        name = _str(ctx, knode, key)
        path = f"{key}.{name}"
        if isinstance(vnode, yaml.ScalarNode) and vnode.tag.rsplit(":", 1)[-1] in ("int", "float", "bool"):
            raise ctx.fail(vnode, path, f"expected a string, got {_kind(vnode)} (quote it)")
        out[name] = _str(ctx, vnode, path)
    return out


def _env(ctx: _Ctx, node: yaml.Node, key: str) -> dict[str, str]:
    env = _str_map(ctx, node, key)
    for name in env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ctx.fail(node, f"{key}.{name}", "not a valid environment variable name")
    return env


def _files(ctx: _Ctx, node: yaml.Node, key: str) -> dict[str, str]:
    files = _str_map(ctx, node, key)
    for rel in files:
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts or not rel.strip():
            raise ctx.fail(node, f"{key}.{rel}", "must be a relative path inside the work dir")
    return files


def _expect_exit(ctx: _Ctx, node: yaml.Node, key: str) -> int | None:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str") and node.value == "any":
        return None
    return _scalar(ctx, node, key, ("int",), 'an exit code or "any"')


def _answer(ctx: _Ctx, node: yaml.Node, key: str) -> Answer:
    m = _mapping(ctx, node, key, {"expect": _regex, "send": _str}, required=("expect", "send"))
    return Answer(m["expect"], m["send"])


def _step(ctx: _Ctx, node: yaml.Node, key: str) -> Step:
    known = {"name": _str, "run": _str, "timeout": _positive, "tty": _bool,
             "answers": lambda c, n, k: _list(c, n, k, _answer), "expect_exit": _expect_exit}
    m = _mapping(ctx, node, key, known, required=("run",))
    if not m["run"].strip():
        raise ctx.fail(node, f"{key}.run", "must not be empty")
    index = int(key.rsplit("[", 1)[1].rstrip("]"))
    return Step(
        name=m.get("name", f"step-{index + 1}"), run=m["run"],
        timeout=m.get("timeout", DEFAULT_TIMEOUT), tty=m.get("tty", False),
        answers=tuple(m.get("answers", ())), expect_exit=m.get("expect_exit", 0),
    )


def _consent(ctx: _Ctx, node: yaml.Node, key: str) -> Consent:
    m = _mapping(ctx, node, key, {"env": _env, "run": lambda c, n, k: _list(c, n, k, _str)})
    if not m:
        raise ctx.fail(node, key, "give `env`, `run` or both")
    return Consent(env=tuple(m.get("env", {}).items()), run=tuple(m.get("run", ())))


def _variant(ctx: _Ctx, node: yaml.Node, key: str) -> str:
    name = _str(ctx, node, key)
    if name not in VARIANT_NAMES:
        raise ctx.fail(node, key, f"unknown variant {name!r} (expected one of: {', '.join(VARIANT_NAMES)})")
    return name


def _host_pattern(ctx: _Ctx, node: yaml.Node, key: str) -> str:
    value = _str(ctx, node, key).strip().lower()
    if value.startswith("@"):
        if value not in ("@pip-index", "@npm-registry"):
            raise ctx.fail(node, key, f"unknown source {value!r} (expected @pip-index or @npm-registry)")
        return value
    if not re.fullmatch(r"(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(/[^\s]*)?", value):
        raise ctx.fail(node, key, f"not a host name, *.glob or host/path glob: {value!r}")
    return value


def _endpoint(ctx: _Ctx, node: yaml.Node, key: str) -> str:
    value = _host_pattern(ctx, node, key)
    if value.startswith("@"):
        raise ctx.fail(node, key, f"{value} is a registry source: it belongs in network.allow")
    return value


def _twins(ctx: _Ctx, node: yaml.Node, key: str) -> str:
    value = _str(ctx, node, key)
    if value not in TWINS:
        raise ctx.fail(node, key, f"expected one of {', '.join(TWINS)}, got {value!r}")
    return value


def _top(ctx: _Ctx, node: yaml.Node) -> dict[str, Any]:
    known = {
        "schema_version": _int,
        "name": _str,
        "description": _str,
        "software": lambda c, n, k: _mapping(c, n, k, {"name": _str, "version": _str, "homepage": _str}),
        "files": _files,
        "steps": lambda c, n, k: _list(c, n, k, _step),
        "consent": lambda c, n, k: _mapping(c, n, k, {"denied": _consent, "granted": _consent}),
        "variants": lambda c, n, k: _list(c, n, k, _variant),
        "network": lambda c, n, k: _mapping(
            c, n, k, {"allow": lambda c2, n2, k2: _list(c2, n2, k2, _host_pattern)}),
        "expect": lambda c, n, k: _mapping(
            c, n, k, {"telemetry": lambda c2, n2, k2: _list(c2, n2, k2, _endpoint),
                      "functional": lambda c2, n2, k2: _list(c2, n2, k2, _endpoint),
                      "notice": _regex}),
        "repeat": _int,
        "twins": _twins,
    }
    return _mapping(ctx, node, "", known, required=("schema_version", "name", "steps"))


def _find(node: yaml.MappingNode, *path: str) -> yaml.Node | None:
    for name in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if getattr(k, "value", None) == name), None)
        if node is None:
            return None
    return node


def _lines(root: yaml.MappingNode, steps: tuple[Step, ...]) -> dict[str, int]:
    lines: dict[str, int] = {}

    def put(key: str, node: yaml.Node | None) -> None:
        if node is not None:
            lines.setdefault(key, node.start_mark.line + 1)

    put("name", _find(root, "name"))
    for step, node in zip(steps, getattr(_find(root, "steps"), "value", ())):
        put(f"step:{step.name}", node)
    for node in getattr(_find(root, "variants"), "value", ()):
        put(f"variant:{node.value}", node)
    for kind in ("denied", "granted"):
        put(f"consent:{kind}", _find(root, "consent", kind))
    return lines


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ScenarioError naming file, line and key."""
    path = Path(path)
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(shown, None, "", f"cannot read scenario: {e}") from None
    root = yamlsafe.compose(text, shown)
    if root is None:
        raise ScenarioError(shown, None, "", "the file is empty")
    ctx = _Ctx(shown)
    m = _top(ctx, root)
    if m["schema_version"] != 1:
        raise ctx.fail(_find(root, "schema_version"), "schema_version",
                       f"unsupported version {m['schema_version']} (this egress-audit reads 1)")
    if not NAME_RE.fullmatch(m["name"]):
        raise ctx.fail(_find(root, "name"), "name", "use only a-z, 0-9, '.', '_' and '-' (at most 100, not '.' or '..')")
    if not m["steps"]:
        raise ctx.fail(_find(root, "steps"), "steps", "at least one step is required")
    consent = m.get("consent", {})
    repeat = m.get("repeat", 1)
    if not 1 <= repeat <= 10:
        raise ctx.fail(_find(root, "repeat"), "repeat", f"must be between 1 and 10, got {repeat}")
    variants = tuple(m.get("variants", ()))
    for i, v in enumerate(variants):
        if v in ("denied", "granted") and v not in consent:
            raise ctx.fail(_find(root, "variants"), f"variants[{i}]",
                           f"variant {v!r} needs consent.{v} to say how the tool is told")
    if len(set(variants)) != len(variants):
        raise ctx.fail(_find(root, "variants"), "variants", "a variant is listed twice")
    software = m.get("software", {})
    return Scenario(
        name=m["name"],
        path=path.resolve(),
        steps=tuple(m["steps"]),
        description=m.get("description", ""),
        software=Software(**software),
        files=tuple(m.get("files", {}).items()),
        denied=consent.get("denied"),
        granted=consent.get("granted"),
        variants=variants,
        allow=tuple(m.get("network", {}).get("allow", ())),
        expect_telemetry=tuple(m.get("expect", {}).get("telemetry", ())),
        expect_functional=tuple(m.get("expect", {}).get("functional", ())),
        notice=m.get("expect", {}).get("notice"),
        repeat=repeat,
        lines=_lines(root, tuple(m["steps"])),
        twins=m.get("twins", "auto"),
    )
