"""The node and resource types a pipeline file may name: short names of registered types
(the built-in node library, the `llmkit.nodes` and `llmkit.resources` entry-point groups),
and dotted `module:Class` paths (only when the caller allows imports: a YAML file must not
run code). The first look-up imports the node library, so the engine never has to.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from llmkit.core.registry import NODE_TYPES, RESOURCE_TYPES, register, register_resource
from llmkit.errors import PipelineError, did_you_mean

__all__ = ["available", "available_resources", "load_library", "lookup", "lookup_resource"]

_loaded = False


def load_library() -> None:
    """Register the built-in node library and the entry points' types, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from llmkit.nodes import library  # noqa: F401  (importing it registers the library)

    found = entry_points()  # one scan of the installed packages for both groups
    for ep in found.select(group="llmkit.nodes"):
        register(ep.name)(ep.load())
    for ep in found.select(group="llmkit.resources"):
        register_resource(ep.name)(ep.load())


def available() -> dict[str, type]:
    """Every registered node type, by short name."""
    load_library()
    return dict(sorted(NODE_TYPES.items()))


def available_resources() -> dict[str, Callable[..., Any]]:
    """Every registered resource type, by short name (importing every deferred one)."""
    load_library()
    return {name: _factory(name) for name in sorted(RESOURCE_TYPES)}


def lookup(name: str, *, allow_import: bool = False) -> type:
    """The node class for a short name, or for `module:Class` when imports are allowed."""
    load_library()
    if name in NODE_TYPES:
        return NODE_TYPES[name]
    if ":" in name:
        obj = _import("node type", name, allow_import)
        if not isinstance(obj, type):
            raise PipelineError(f"node type '{name}' is not a class")
        return obj
    raise PipelineError(f"unknown node type '{name}'{did_you_mean(name, NODE_TYPES)}")


def lookup_resource(name: str, *, allow_import: bool = False) -> Callable[..., Any]:
    """The factory for a resource type's short name, or for `module:factory` when imports
    are allowed."""
    load_library()
    if name in RESOURCE_TYPES:
        return _factory(name)
    if ":" in name:
        obj = _import("resource type", name, allow_import)
        if not callable(obj):
            raise PipelineError(f"resource type '{name}' is not callable")
        return obj
    raise PipelineError(f"unknown resource type '{name}'{did_you_mean(name, RESOURCE_TYPES)}")


def _factory(name: str) -> Callable[..., Any]:
    """The factory registered as `name`; a `Deferred` one is imported and registered in its
    place, once."""
    from llmkit.nodes.library import Deferred

    factory = RESOURCE_TYPES[name]
    if isinstance(factory, Deferred):
        factory = register_resource(name)(factory.load())
    return factory


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
