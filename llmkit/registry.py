"""Node types by short name: built-ins, the `llmkit.nodes` entry-point group, and dotted
`module:Class` paths (only when the caller allows imports: a YAML file must not run code)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from llmkit.errors import PipelineError, did_you_mean

__all__ = ["available", "lookup", "register", "type_name_of"]

_BY_NAME: dict[str, type] = {}
_BY_CLASS: dict[type, str] = {}
_BUILTIN_MODULES = ("llmkit.nodes.library",)
_loaded = False


def register(name: str):
    """Class decorator: make a node class available under `name` in YAML and the CLI."""

    def add(cls: type) -> type:
        _BY_NAME[name] = cls
        _BY_CLASS[cls] = name
        return cls

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


def available() -> dict[str, type]:
    """Every registered type, by short name."""
    _load()
    return dict(sorted(_BY_NAME.items()))


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
        if not allow_import:
            raise PipelineError(
                f"node type '{name}' is a Python import path; importing code from a pipeline "
                "file is off by default: pass --allow-import (allow_import=True) to permit it"
            )
        module, _, qualname = name.partition(":")
        try:
            obj: object = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise PipelineError(f"cannot import node type '{name}': {exc}") from None
        if not isinstance(obj, type):
            raise PipelineError(f"node type '{name}' is not a class")
        return obj
    raise PipelineError(f"unknown node type '{name}'{did_you_mean(name, _BY_NAME)}")
