"""What a pipeline file may hold, shared by the reader (`load`) and the writer (`dump`):
its keys, the one mapping of node settings keys to `Settings`, the reference syntax, and
what a loaded pipeline remembers about its file so that it can be written back as it was.
"""

from __future__ import annotations

import inspect
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmkit.core import checks
from llmkit.core.checks import AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE, Check
from llmkit.core.pipeline import Pipeline
from llmkit.secrets import REDACTED
from llmkit.spec.resources import ResourceSpec
from llmkit.spec.yaml import Doc, Path

SPEC_VERSION = 1
DEFAULT_NAME: str = inspect.signature(Pipeline).parameters["name"].default
TOP_KEYS = ("llmkit", "name", "description", "inputs", "resources", "nodes", "outputs")
NODE_KEYS = ("type", "params", "inputs", "when")
INPUT_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool,
                               "list": list, "dict": dict, "any": Any}
#: `$$`, `${body}`, or an unterminated `${`
REFERENCE = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<body>[^}]*)(?P<close>\}?))")
VARIABLE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
RESOURCE_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_-]*)")


@dataclass(frozen=True)
class Ref:
    """A `$name` resource reference, resolved when a node using it is built."""

    name: str


def escape(text: str) -> str:
    """`text` written so that reading it back gives `text` (no reference expanded)."""
    if "${" in text or "$$" in text or RESOURCE_REF.fullmatch(text):
        return text.replace("$", "$$")
    return text


# -- settings: the one mapping between node keys in a file and `Settings` ----------------
def optional(check: Check) -> Check:
    """`check`, or null: the YAML spelling of the engine's optional settings."""
    return checks.optional(check, "null")


BOOL: Check = checks.boolean("true or false")

#: keys whose value is the `Settings` field of the same name
SCALAR_SETTINGS: dict[str, Check] = {
    "max_batch": AT_LEAST_1,
    "max_wait_ms": NON_NEGATIVE,
    "concurrency": optional(AT_LEAST_1),
    "timeout": optional(POSITIVE),
    "inline": optional(BOOL),
}
#: `retry: {...}` keys: the `Retry` fields of the same name
RETRY_KEYS: dict[str, Check] = {"attempts": AT_LEAST_1, "backoff": NON_NEGATIVE,
                                "max_backoff": NON_NEGATIVE, "jitter": FRACTION,
                                "max_retry_after": NON_NEGATIVE}
#: `cache: {...}` keys: `enabled` is `Settings.cache` (default true), `ttl` is `cache_ttl`
CACHE_KEYS: dict[str, Check] = {"enabled": optional(BOOL), "ttl": optional(POSITIVE)}
SETTING_KEYS = (*SCALAR_SETTINGS, "retry", "cache")


# -- what a loaded pipeline remembers about its file -------------------------------------
@dataclass
class Origin:
    doc: Doc  # positions, and which keys the file wrote
    raw: dict[Path, tuple[str, Any]]  # strings with `$` as written, and the value they gave
    secrets: frozenset[str]
    resources: dict[str, ResourceSpec]  # declared, in file order
    inputs_as_list: bool
    base: str | None = None  # the file's folder; None for text
    # path params that `place` moved, as written (`../docs`): so a dump for `base` writes them
    places: dict[Path, str] = field(default_factory=dict)


ORIGINS: weakref.WeakKeyDictionary[Pipeline, Origin] = weakref.WeakKeyDictionary()


_MIN_SECRET = 4  # shorter "secrets" are left alone: replacing them would garble messages


def scrub(text: str, secrets: frozenset[str] | set[str]) -> str:
    """`text` with each secret (of at least 4 characters) replaced by ***."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, REDACTED)
    return text


def dotted(path: Path) -> str:
    """A path as written in messages: `nodes.embed.params.dim`."""
    return ".".join(str(part) for part in path) or "top level"


def parameters(factory: Callable[..., Any]) -> tuple[list[inspect.Parameter], bool] | None:
    """The keyword parameters of a class's `__init__` or of a function, and whether it takes
    `**kwargs`; None when they cannot be known."""
    is_class = isinstance(factory, type)
    if is_class and factory.__init__ is object.__init__:  # type: ignore[misc]
        return [], False
    try:
        signature = inspect.signature(factory.__init__ if is_class else factory)  # type: ignore[misc]
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())[1 if is_class else 0:]
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return ([p for p in params if p.kind in keyword],
            any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params))


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type (1 is not True), without tripping on arrays."""
    try:
        return a is b or (type(a) is type(b) and bool(a == b))
    except Exception:  # an array's ambiguous truth value, a broken __eq__
        return False
