"""Text renderings for the CLI: the registered node and resource types with their ports and
params; pipeline diagrams come from `llmkit.spec.draw`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from llmkit.secrets import REDACTED, is_secret_name
from llmkit.spec.format import parameters

__all__ = ["node_types"]


def node_types() -> str:
    """Every registered node type (ports, params) and resource type (params)."""
    from llmkit.spec.catalog import available, available_resources

    lines = []
    for name, cls in available().items():
        lines += [*_heading(name, cls),
                  f"  inputs:  {_ports(cls, 'inputs')}",
                  f"  outputs: {_ports(cls, 'outputs')}",
                  f"  params:  {_params(cls)}"]
    resources = available_resources()
    if resources:
        lines.append("\nresource types (declare under resources:, use as $name):")
        for name, factory in resources.items():
            lines += [*_heading(name, factory), f"  params:  {_params(factory)}"]
    return "\n".join(lines).lstrip("\n")


def _heading(name: str, obj: Callable[..., Any]) -> Iterator[str]:
    yield f"\n{name}  ({obj.__module__}:{obj.__qualname__})"
    summary = (inspect.getdoc(obj) or "").strip().partition("\n")[0]
    if summary:
        yield f"  {summary}"


def _ports(cls: type, which: str) -> str:
    ports = inspect.getattr_static(cls, which)
    if isinstance(ports, property):  # ports set per instance: the property says how
        return f"({(ports.__doc__ or 'set per instance').strip().rstrip('.').lower()})"
    defaults: Mapping[str, Any] = cls.defaults if which == "inputs" else {}  # type: ignore[attr-defined]
    return ", ".join(f"{port}={defaults[port]!r}" if port in defaults else port
                     for port in ports) or "none"


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
