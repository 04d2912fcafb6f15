"""Text renderings for the CLI: the registered node and resource types with their ports and
params; pipeline diagrams come from `llmkit.spec.draw`."""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from llmkit.secrets import REDACTED, is_secret_name
from llmkit.spec.catalog import BUILT_IN
from llmkit.spec.format import parameters

__all__ = ["node_types", "summary"]


def node_types() -> str:
    """Every registered node type (ports, params) and resource type (params)."""
    from llmkit.spec.catalog import available, available_resources, origin

    lines = []
    for name, cls in available().items():
        lines += [*_heading(name, cls, origin(name)),
                  f"  inputs:  {_ports(cls, 'inputs')}",
                  f"  outputs: {_ports(cls, 'outputs')}",
                  f"  params:  {_params(cls)}"]
    resources = available_resources()
    if resources:
        lines.append("\nresource types (declare under resources:, use as $name):")
        for name, factory in resources.items():
            lines += [*_heading(name, factory, origin(name, resource=True)),
                      f"  params:  {_params(factory)}"]
    return "\n".join(lines).lstrip("\n")


def _heading(name: str, obj: Callable[..., Any], source: str | None) -> Iterator[str]:
    """The type's name, where it is defined, the package it comes from (a plugin's), and the
    first sentence of its docstring."""
    package = f", from {source}" if source and source != BUILT_IN else ""
    yield f"\n{name}  ({obj.__module__}:{obj.__qualname__}{package})"
    yield from textwrap.wrap(summary(inspect.getdoc(obj) or ""), 88, initial_indent="  ",
                             subsequent_indent="  ", break_long_words=False,
                             break_on_hyphens=False)


#: the end of a sentence: `.`, `!` or `?` before the end or a space and a capital letter
_SENTENCE_END = re.compile(r"[.!?](?=$|\s+[A-Z`(\"'])")


def summary(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, whole (the paragraph when no
    sentence ends in it), on one line."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    end = _SENTENCE_END.search(paragraph)
    return paragraph[:end.end()] if end else paragraph


def _ports(cls: type, which: str) -> str:
    ports = inspect.getattr_static(cls, which)
    if isinstance(ports, property):  # ports set per instance: the property says how
        return f"({(ports.__doc__ or 'set per instance').strip().rstrip('.').lower()})"
    from llmkit.core.ports import type_name

    defaults: Mapping[str, Any] = cls.defaults if which == "inputs" else {}  # type: ignore[attr-defined]
    shown = []
    for port, tp in ports.items():  # `port: type = default`, as in a signature
        typed = port if tp is Any else f"{port}: {type_name(tp)}"
        shown.append(f"{typed} = {defaults[port]!r}" if port in defaults else typed)
    if which == "inputs" and _takes_any_port(cls):
        shown.append(f"any {'other ' if shown else ''}name (one port per source wired in)")
    if which == "outputs" and not shown and cls.partial_outputs:  # type: ignore[attr-defined]
        return "one per branch (a run gets only the branch it takes)"
    return ", ".join(shown) or "none"


def _takes_any_port(cls: type) -> bool:
    """Whether the node's input ports are the names it is wired with (an aggregate)."""
    from llmkit.core.node import Node

    return inspect.getattr_static(cls, "accepts_input", None) is not Node.accepts_input


def _params(factory: Callable[..., Any]) -> str:
    known = parameters(factory)
    if known is None:
        return "(unknown)"
    shown = []
    for param in known[0]:
        if param.default is param.empty:
            shown.append(f"{param.name} (required)")
        else:
            default = REDACTED if is_secret_name(param.name) and param.default is not None \
                else repr(param.default)
            shown.append(f"{param.name}={default}")
    return ", ".join(shown) or "none"
