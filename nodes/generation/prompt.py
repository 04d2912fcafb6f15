"""Text templates for the `prompt` node, compiled once (peers re-parse a template on every
run): a filled template is a join of literal text and the formatted values.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Part", "compile_template"]

_FORMATTER = string.Formatter()
Part = str | Callable[[Mapping[str, Any]], str]


def compile_template(template: str) -> tuple[tuple[Part, ...], tuple[str, ...]]:
    """The template as literal strings and field formatters, and its placeholder names."""
    parts: list[Part] = []
    names: dict[str, None] = {}
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        if literal:
            parts.append(literal)
        if field is None:
            continue
        name = field.partition(".")[0].partition("[")[0]
        if not name.isidentifier():
            raise ValueError(f"placeholder {{{field}}} must start with a name, like "
                             "{question}: positional {} and {0} have no port to read from")
        if "{" in (spec or ""):
            raise ValueError(f"placeholder {{{field}:{spec}}}: nested placeholders in a "
                             "format spec are not supported")
        names[name] = None
        parts.append(_field(field, name, spec or "", conversion))
    return tuple(parts), tuple(names)


def _field(field: str, name: str, spec: str, conversion: str | None) -> Part:
    """A function formatting one placeholder from the run's values."""
    if field == name and not spec and not conversion:
        return lambda values: str(values[name])

    def format_field(values: Mapping[str, Any]) -> str:
        value = _FORMATTER.get_field(field, (), values)[0]
        return format(_FORMATTER.convert_field(value, conversion), spec)

    return format_field
