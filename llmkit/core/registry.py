"""Node types and resource types by short name: built-ins, the `llmkit.nodes` and
`llmkit.resources` entry-point groups, and dotted `module:Class` paths (only when the caller
allows imports: a YAML file must not run code).

A resource type maps a short name to a factory (a class or function) whose keyword arguments
are the resource's params in YAML; registering one is one line:
`register_resource("vector_index")(VectorIndex.load)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from llmkit.errors import PipelineError, did_you_mean

__all__ = [
    "available",
    "available_resources",
    "lookup",
    "lookup_resource",
    "register",
    "register_resource",
    "type_name_of",
]

_BY_NAME: dict[str, type] = {}
_BY_CLASS: dict[type, str] = {}
_RESOURCES: dict[str, Callable[..., Any]] = {}
_BUILTIN_MODULES = ("llmkit.nodes.prompt", "llmkit.nodes.library")
_loaded = False


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


def _load() -> None:
    """Import the built-in node library and entry points once, on first look-up."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    for ep in entry_points(group="llmkit.nodes"):
        register(ep.name)(ep.load())
    for ep in entry_points(group="llmkit.resources"):
        register_resource(ep.name)(ep.load())


def available() -> dict[str, type]:
    """Every registered node type, by short name."""
    _load()
    return dict(sorted(_BY_NAME.items()))


def available_resources() -> dict[str, Callable[..., Any]]:
    """Every registered resource type, by short name."""
    _load()
    return dict(sorted(_RESOURCES.items()))


def type_name_of(cls: type) -> str:
    """The short name `cls` is registered under, else its `module:QualName` path."""
    _load()
    return _BY_CLASS.get(cls) or f"{cls.__module__}:{cls.__qualname__}"


def lookup(name: str, *, allow_import: bool = False) -> type:
    """The node class for a short name, or for `module:Class` when imports are allowed."""
    _load()
    if name in _BY_NAME:
        return _BY_NAME[name]
    if ":" in name:
        obj = _import("node type", name, allow_import)
        if not isinstance(obj, type):
            raise PipelineError(f"node type '{name}' is not a class")
        return obj
    raise PipelineError(f"unknown node type '{name}'{did_you_mean(name, _BY_NAME)}")


def lookup_resource(name: str, *, allow_import: bool = False) -> Callable[..., Any]:
    """The factory for a resource type's short name, or for `module:factory` when imports
    are allowed."""
    _load()
    if name in _RESOURCES:
        return _RESOURCES[name]
    if ":" in name:
        obj = _import("resource type", name, allow_import)
        if not callable(obj):
            raise PipelineError(f"resource type '{name}' is not callable")
        return obj
    raise PipelineError(f"unknown resource type '{name}'{did_you_mean(name, _RESOURCES)}")


def _import(kind: str, path: str, allow_import: bool) -> object:
    """The object a `module:Qual.Name` path names, if the caller allows imports."""
    if not allow_import:
        raise PipelineError(
            f"{kind} '{path}' is a Python import path; importing code from a pipeline "
            "file is off by default: pass --allow-import (allow_import=True) to permit it"
        )
    module, _, qualname = path.partition(":")
    try:
        obj: object = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # a module's import may fail in any way: report, don't crash
        raise PipelineError(f"cannot import {kind} '{path}': {type(exc).__name__}: {exc}"
                            ) from None
    except SystemExit as exc:  # a script's `sys.exit()` at import must not end llmkit silently
        raise PipelineError(f"cannot import {kind} '{path}': importing it called "
                            f"sys.exit({exc.code!r}); a module that a pipeline uses must not "
                            "exit when imported") from None
    return obj
