"""Prompt templates, compiled once per node: Jinja2 in a sandbox, or plain `{name}` fields.

A template with `{{`, `{%` or `{#` is Jinja2 (loops, conditionals, filters), rendered by an
`ImmutableSandboxedEnvironment` with undefined names refused; attributes and keys that
start with `_` (`{{ q.__class__ }}`) are refused when the template is compiled, and the
sandbox refuses the rest of the escapes when it runs. Any other template is plain fields:
each `{name}` is replaced by the value's `str`, and nothing else (`{q.attr}`, `{q[0]}`,
`{q!r}`, `{q:>8}`) is allowed, so a template cannot reach an object's attributes.
`{{` used to be `str.format`'s literal brace: a Jinja2 template that reads like an old
`str.format` one (a `{name}` field left as text, or `{{ }}` around no expression) is refused
with the fix, rather than run with another meaning.
Either way the template's variable names are its node's input ports, so a variable that
nothing provides is an unwired port, refused when the pipeline is validated.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Template", "compile_template"]

_JINJA = re.compile(r"\{[{%#]")
_FIELD = re.compile(r"(?<!\{)\{\s*([A-Za-z_]\w*)\s*\}(?!\})")  # `{name}`, not `{{name}}`
_FIX = "write {name} as {{ name }} and a literal brace as {{ '{' }}"
_FORMATTER = string.Formatter()
Part = str | Callable[[Mapping[str, Any]], str]


class Template:
    """A compiled template: `names` are its variables, `render(values)` fills it."""

    __slots__ = ("names", "render", "source")

    def __init__(self, source: str, names: tuple[str, ...],
                 render: Callable[[Mapping[str, Any]], str]) -> None:
        self.source, self.names, self.render = source, names, render

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def compile_template(source: str, what: str = "template") -> Template:
    """`source` compiled; a ValueError naming `what` (and the template's line) if it is not
    a valid template."""
    if not isinstance(source, str):
        raise TypeError(f"{what} must be a string, not {type(source).__name__}")
    if _JINJA.search(source):
        return _jinja(source, what)
    return _plain(source, what)


def _plain(source: str, what: str) -> Template:
    """Literal text and `{name}` fields, joined without `str.format`'s field lookup."""
    parts: list[Part] = []
    names: dict[str, None] = {}
    try:
        parsed = list(_FORMATTER.parse(source))
    except ValueError as exc:  # a lone brace
        raise ValueError(f"{what}: {exc}: write a literal brace in a Jinja2 template, "
                         "like {{ '{' }}") from None
    for literal, field, spec, conversion in parsed:
        if literal:
            parts.append(literal)
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"{what}: {{{shown}}}: plain templates take only {{name}} "
                             "fields (no attributes, indexes, conversions or format specs); "
                             "for more, write Jinja2, like {{ name | upper }}")
        names[field] = None
        parts.append(lambda values, name=field: str(values[name]))
    frozen = tuple(parts)
    if len(frozen) == 1 and type(frozen[0]) is str:
        text = frozen[0]
        return Template(source, (), lambda values: text)
    return Template(source, tuple(names), lambda values: "".join(
        [part if type(part) is str else part(values)  # type: ignore[operator]
         for part in frozen]))


def _jinja(source: str, what: str) -> Template:
    """A Jinja2 template of the shared sandboxed environment."""
    from jinja2 import TemplateSyntaxError, meta, nodes

    environment = _environment()
    try:
        tree = environment.parse(source)
    except TemplateSyntaxError as exc:
        hint = (" (if this was a str.format template: {{ now starts Jinja2, not a literal "
                f"brace; {_FIX})") if _is_format(source) else ""
        raise ValueError(f"{what} line {exc.lineno}: {exc.message}{hint}") from None
    _refuse_text_fields(environment, source, what)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "")
        if isinstance(name, str) and name.startswith("_"):
            raise ValueError(f"{what} line {node.lineno}: '{name}' is not allowed: templates "
                             "cannot read private attributes or keys (names starting with _)")
    found = meta.find_undeclared_variables(tree)
    names = tuple(sorted(found, key=lambda name: (source.find(name), name)))
    compiled = environment.from_string(tree)
    return Template(source, names, compiled.render)


def _is_format(source: str) -> bool:
    """Whether `source` is a valid `str.format` template (so probably written as one)."""
    try:
        list(_FORMATTER.parse(source))
        return True
    except ValueError:
        return False


def _refuse_text_fields(environment: Any, source: str, what: str) -> None:
    """Refuse a `{name}` in the text of a Jinja2 template (outside `{% raw %}`): printed as
    is, where its author most likely meant a field of an old `str.format` template."""
    raw = False
    for lineno, kind, value in environment.lex(source):
        raw = kind == "raw_begin" or (raw and kind != "raw_end")
        found = None if raw or kind != "data" else _FIELD.search(value)
        if found:
            line = lineno + value.count("\n", 0, found.start())
            raise ValueError(f"{what} line {line}: {found.group(0)} would be printed as is, "
                             "since a template with {{ or {% is Jinja2: write "
                             f"{{{{ {found.group(1)} }}}} for the value (a literal brace: "
                             "{{ '{' }}), or "
                             f"{{% raw %}}{found.group(0)}{{% endraw %}} to keep the text")


@functools.cache
def _environment() -> Any:
    """The sandboxed environment every template shares (built on first use: importing
    Jinja2 costs ~30 ms, which a pipeline of plain templates never pays)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                         keep_trailing_newline=True)
