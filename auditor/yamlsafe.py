"""YAML read from user files with a nesting limit: a line-numbered error, never a traceback.

PyYAML composes and constructs recursively: a document nested a few thousand levels deep (two
short lines of brackets) raises RecursionError, and its pure-Python scanner needs minutes for a
document nested 200,000 deep. The event stream is checked first, with libyaml where PyYAML has
it (it refuses nesting past 1,000 levels on its own, in microseconds), stopping at the first
collection deeper than MAX_NESTING; only then is the document composed.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import ScenarioError

MAX_NESTING = 32  # no scenario, policy or identity file needs more than a handful
_EventLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line(mark) -> int | None:
    return mark.line + 1 if mark is not None else None


def check_nesting(text: str, shown: str) -> None:
    """ScenarioError naming the file and line where text nests deeper than MAX_NESTING, or where
    it is not YAML at all."""
    depth = 0
    too_deep = f"nested deeper than {MAX_NESTING} levels (limit of egress-audit)"
    try:
        for ev in yaml.parse(text, Loader=_EventLoader):
            if isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    raise ScenarioError(shown, _line(ev.start_mark), "", too_deep)
            elif isinstance(ev, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as e:
        if isinstance(e, yaml.MarkedYAMLError) and "nesting depth" in str(e.problem):
            # libyaml's own limit, met while scanning ahead
            raise ScenarioError(shown, _line(e.problem_mark or e.context_mark), "", too_deep) from None
        raise _error(e, shown) from None


def _error(e: yaml.YAMLError, shown: str) -> ScenarioError:
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        return ScenarioError(shown, _line(mark), "", f"YAML syntax error: {e.problem or e.context}")
    return ScenarioError(shown, None, "", f"YAML error: {e}")


def compose(text: str, shown: str) -> yaml.Node | None:
    """The node tree of text (marks kept for line numbers), after check_nesting."""
    check_nesting(text, shown)
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise _error(e, shown) from None


def load(text: str, shown: str) -> Any:
    """yaml.safe_load of text, after check_nesting."""
    check_nesting(text, shown)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _error(e, shown) from None
