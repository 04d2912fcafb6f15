"""The `prompt` node: fills a text template from its input ports.

The template is parsed once, when the node is built (peers re-parse it on every run): each
run is a join of literal text and the formatted values.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

from llmkit.core.node import Node, Settings
from llmkit.core.registry import register

__all__ = ["Prompt"]

_FORMATTER = string.Formatter()
Part = str | Callable[[Mapping[str, Any]], str]


@register("prompt")
class Prompt(Node):
    """Fill a `str.format` template: each `{name}` is an input port; the output is `text`.

    `{name!r}`, `{name:>8}`, `{name.attr}` and `{name[0]}` work as in `str.format`; write
    `{{` and `}}` for literal braces.
    """

    outputs = {"text": str}
    # Formatting is cheaper than a thread hop or a cache look-up.
    settings = Settings(inline=True, cache=False)

    def __init__(self, template: str) -> None:
        if not isinstance(template, str):
            raise TypeError(f"template must be a string, not {type(template).__name__}")
        self.template = template
        self._parts, names = _compile(template)
        self._ports: dict[str, Any] = dict.fromkeys(names, Any)

    @property
    def inputs(self) -> dict[str, Any]:  # type: ignore[override]
        """One port per placeholder name in the template."""
        return self._ports

    def run(self, **values: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"text": "".join([part if type(part) is str else part(values)  # type: ignore[operator]
                                 for part in self._parts])}


def _compile(template: str) -> tuple[tuple[Part, ...], tuple[str, ...]]:
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
