"""Value checks shared by node settings in Python and their keys in pipeline files: each is
a predicate and, in words, what a valid value is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["AT_LEAST_1", "FRACTION", "NON_NEGATIVE", "POSITIVE", "Check", "boolean", "optional"]

Check = tuple[Callable[[Any], bool], str]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


AT_LEAST_1: Check = (lambda v: _is_int(v) and v >= 1, "an integer of at least 1")
NON_NEGATIVE: Check = (lambda v: _is_number(v) and v >= 0, "a number of at least 0")
POSITIVE: Check = (lambda v: _is_number(v) and v > 0, "a number above 0")
FRACTION: Check = (lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1")


def optional(check: Check, none: str = "None") -> Check:
    """`check`, or no value (spelled `none`: None in Python, null in YAML)."""
    return (lambda v: v is None or check[0](v)), f"{check[1]}, or {none}"


def boolean(spelling: str = "True or False") -> Check:
    """A bool, spelled as the reader writes one."""
    return (lambda v: isinstance(v, bool)), spelling
