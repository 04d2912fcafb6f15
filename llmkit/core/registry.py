"""Node types and resource types by short name: the table that `@register` and
`@register_resource` fill as the modules that define the types are imported.

The engine only reads the table (`Node.type_name`); resolving a name a pipeline file
writes, which first imports the node library and the entry points, is `llmkit.spec.catalog`.
A resource type maps a short name to a factory (a class or function) whose keyword arguments
are the resource's params in YAML; registering one is one line:
`register_resource("vector_index")(VectorIndex.load)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["NODE_TYPES", "RESOURCE_TYPES", "register", "register_resource", "type_name_of"]

_BY_NAME: dict[str, type] = {}
_BY_CLASS: dict[type, str] = {}
_RESOURCES: dict[str, Callable[..., Any]] = {}

#: Registered node classes and resource factories by short name (read-only views).
NODE_TYPES: Mapping[str, type] = MappingProxyType(_BY_NAME)
RESOURCE_TYPES: Mapping[str, Callable[..., Any]] = MappingProxyType(_RESOURCES)


def register(name: str):
    """Class decorator: make a node class available under `name` in YAML and the CLI."""

    def add(cls: type) -> type:
        _BY_NAME[name] = cls
        _BY_CLASS[cls] = name
        return cls

    return add


def register_resource(name: str):
    """Decorator: make a resource factory (class or function; its keyword arguments are the
    resource's params) available under `name` in a pipeline file's `resources:`."""

    def add(factory: Callable[..., Any]) -> Callable[..., Any]:
        _RESOURCES[name] = factory
        return factory

    return add


def type_name_of(cls: type) -> str:
    """The short name `cls` is registered under, else its `module:QualName` path."""
    return _BY_CLASS.get(cls) or f"{cls.__module__}:{cls.__qualname__}"
