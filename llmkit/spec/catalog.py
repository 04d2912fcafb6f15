"""The node and resource types a pipeline file may name: short names of registered types
(the built-in node library; plugins: installed packages' `llmkit.nodes` entry points and the
modules `--plugin`/`LLMKIT_PLUGINS` name), and dotted `module:Class` or `module:function`
paths (only when the caller allows imports: a YAML file must not run code). The first look-up
imports the node library, so the engine never has to; plugins are imported on the first
look-up of a name the library lacks, so a broken plugin never stops a pipeline that does not
use it. docs/extending.md is the guide.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

from llmkit.core.node import FunctionNode, Node
from llmkit.core.registry import NODE_TYPES, RESOURCE_TYPES, register, register_resource
from llmkit.errors import PipelineError, did_you_mean

__all__ = ["BUILT_IN", "ENTRY_POINTS", "PLUGINS_ENV", "allowing_imports", "available",
           "available_resources", "broken_plugins", "function_factory", "imports_allowed",
           "load_library", "load_plugins", "lookup", "lookup_resource", "origin", "use_plugins"]

ENTRY_POINTS = "llmkit.nodes"  # the entry-point group of plugin packages
PLUGINS_ENV = "LLMKIT_PLUGINS"  # comma-separated plugin modules, as `--plugin` gives them
BUILT_IN = "llmkit"  # the origin of the node library's types

#: where each type name a plugin registered comes from, by kind ("node", "resource")
_ORIGINS: dict[str, dict[str, str]] = {"node": {}, "resource": {}}
_broken: list[str] = []  # one line per entry point that failed to load
_plugin_modules: set[str] = set()
_library_loaded = False
_plugins_loaded = False
_imports: ContextVar[bool] = ContextVar("llmkit_imports_allowed", default=False)


@contextlib.contextmanager
def allowing_imports(allowed: bool) -> Iterator[None]:
    """While a file loads: whether it may import code, for what it builds that loads more
    (an agent's tools: `imports_allowed()`)."""
    token = _imports.set(allowed)
    try:
        yield
    finally:
        _imports.reset(token)


def imports_allowed() -> bool:
    """Whether the pipeline file being loaded was allowed to import code (`--allow-import`)."""
    return _imports.get()


def load_library() -> None:
    """Register the built-in node library, once."""
    global _library_loaded
    if not _library_loaded:
        _library_loaded = True
        from llmkit.nodes import library  # noqa: F401  (importing it registers the library)


def load_plugins() -> None:
    """Register the types of the installed packages' `llmkit.nodes` (and `llmkit.resources`)
    entry points and of the modules `LLMKIT_PLUGINS` names, once. An entry point that fails
    to load is skipped and reported (`broken_plugins()`); a named module must import."""
    global _plugins_loaded
    load_library()
    if _plugins_loaded:
        return
    _plugins_loaded = True
    found = entry_points()  # one scan of the installed packages for both groups
    for group in (ENTRY_POINTS, "llmkit.resources"):
        for ep in found.select(group=group):
            _load_entry_point(ep, resource=group != ENTRY_POINTS)
    use_plugins(_env_plugins())


def use_plugins(modules: Iterable[str]) -> None:
    """Import plugin modules (`--plugin`, `LLMKIT_PLUGINS`), whose `@register` lines make their
    types known; the current folder's modules are found, as `python -m` finds them. Naming a
    plugin allows it to run its code, like `--allow-import`."""
    for module in modules:
        if module in _plugin_modules:
            continue
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        with _registering(f"plugin {module}", module):
            _import("plugin", module, allow_import=True)
        _plugin_modules.add(module)


def broken_plugins() -> list[str]:
    """One line per installed entry point that failed to load: its package and the error."""
    return list(_broken)


def origin(name: str, *, resource: bool = False) -> str | None:
    """Where the registered type `name` comes from: `llmkit` (built in), the package of its
    entry point (`name version`) or `plugin MODULE`; None when only code the CLI does not
    import registered it, so a pipeline file cannot name it by its short name."""
    table = RESOURCE_TYPES if resource else NODE_TYPES
    if name not in table:
        return None
    found = _ORIGINS["resource" if resource else "node"].get(name)
    if found is None and _module_of(table[name]).partition(".")[0] == BUILT_IN:
        found = BUILT_IN
    return found


def available() -> dict[str, type]:
    """Every registered node type, by short name (importing the plugins)."""
    load_plugins()
    return dict(sorted(NODE_TYPES.items()))


def available_resources() -> dict[str, Callable[..., Any]]:
    """Every registered resource type, by short name (importing every deferred one)."""
    load_plugins()
    return {name: _factory(name) for name in sorted(RESOURCE_TYPES)}


def lookup(name: str, *, allow_import: bool = False) -> type[Node] | Callable[..., Node]:
    """The node class for a short name; with imports allowed, the class `module:Class` names,
    or a factory of the node `module:function` names (a `@node` function or a plain one)."""
    load_library()
    if name not in NODE_TYPES and ":" not in name:
        load_plugins()
    if name in NODE_TYPES:
        return NODE_TYPES[name]
    if ":" in name:
        obj = _import("node type", name, allow_import)
        if isinstance(obj, FunctionNode):
            return function_factory(obj.fn, obj)
        if inspect.isfunction(obj):
            return function_factory(obj)
        if not isinstance(obj, type):
            raise PipelineError(f"node type '{name}' is neither a class nor a function")
        return obj
    raise PipelineError(f"unknown node type '{name}'{did_you_mean(name, NODE_TYPES)}"
                        f"{_unknown_hint()}")


def lookup_resource(name: str, *, allow_import: bool = False) -> Callable[..., Any]:
    """The factory for a resource type's short name, or for `module:factory` when imports
    are allowed."""
    load_library()
    if name not in RESOURCE_TYPES and ":" not in name:
        load_plugins()
    if name in RESOURCE_TYPES:
        return _factory(name)
    if ":" in name:
        obj = _import("resource type", name, allow_import)
        if not callable(obj):
            raise PipelineError(f"resource type '{name}' is not callable")
        return obj
    raise PipelineError(f"unknown resource type '{name}'{did_you_mean(name, RESOURCE_TYPES)}"
                        f"{_unknown_hint()}")


def _unknown_hint() -> str:
    """How a type registered in one's own code becomes visible, and the plugins that broke."""
    broken = "".join(f"; plugin {line}" for line in _broken)
    return ("; a type registered in your own code is visible through an entry point in group "
            f"'{ENTRY_POINTS}' of an installed package, --plugin MODULE ({PLUGINS_ENV}), or "
            "as type: 'module:Class' with --allow-import (docs/extending.md)" + broken)


def function_factory(fn: Callable[..., Any], decorated: FunctionNode | None = None
                     ) -> Callable[..., Node]:
    """What builds the node of function `fn` from a file's params (`node()`'s arguments;
    their defaults, and the settings, those of the `@node` that decorated it, if one did)."""
    given = decorated.params if decorated else {"outputs": "output", "batch": False,
                                                "version": "1"}

    def function_node(outputs: str | list[str] = given["outputs"],
                      batch: bool = given["batch"], version: str = given["version"]) -> Node:
        made = FunctionNode(fn, outputs if isinstance(outputs, str) else tuple(outputs),
                            batch, version)
        if decorated is not None:
            made.settings = decorated.settings
        return made

    return function_node


def _env_plugins() -> list[str]:
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


def _load_entry_point(ep: EntryPoint, *, resource: bool) -> None:
    """Register what one entry point names: a Node class (a node type), a module (the types
    its import registers) or another callable (a resource type), under its package's name."""
    package = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
    try:
        with _registering(package, ep.module):
            obj = ep.load()
            if isinstance(obj, ModuleType):
                pass
            elif not resource and isinstance(obj, type) and issubclass(obj, Node):
                register(ep.name)(obj)
            elif callable(obj) and not isinstance(obj, Node):
                register_resource(ep.name)(obj)
            else:
                raise TypeError("expected a Node class, a module or a resource factory, not "
                                f"{type(obj).__name__}")
    except (Exception, SystemExit) as exc:  # a broken plugin must not stop the others
        _broken.append(f"{package} ({ep.name} = {ep.value}): {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _registering(source: str, module: str) -> Iterator[None]:
    """Attribute to `source` the types registered inside the block, and those defined in
    `module` (which an earlier import may already have registered)."""
    before = {kind: dict(table) for kind, table in _tables()}
    yield
    for kind, table in _tables():
        for name, obj in table.items():
            defined = _module_of(obj)
            if before[kind].get(name) is not obj or defined == module or defined.startswith(
                    f"{module}."):
                _ORIGINS[kind].setdefault(name, source)


def _tables() -> tuple[tuple[str, Any], ...]:
    return ("node", NODE_TYPES), ("resource", RESOURCE_TYPES)


def _module_of(obj: Any) -> str:
    """The module that defines a registered class or factory (a deferred one: its path's)."""
    path = getattr(obj, "path", None)
    if isinstance(path, str) and ":" in path:
        return path.partition(":")[0]
    return getattr(obj, "__module__", None) or ""


def _factory(name: str) -> Callable[..., Any]:
    """The factory registered as `name`; a `Deferred` one is imported and registered in its
    place, once."""
    from llmkit.nodes.library import Deferred

    factory = RESOURCE_TYPES[name]
    if isinstance(factory, Deferred):
        factory = register_resource(name)(factory.load())
    return factory


def _import(kind: str, path: str, allow_import: bool) -> object:
    """The object a `module:Qual.Name` path (or a bare module) names, if the caller allows
    imports."""
    if not allow_import:
        raise PipelineError(
            f"{kind} '{path}' is a Python import path; importing code from a pipeline "
            "file is off by default: pass --allow-import (allow_import=True) to permit it"
        )
    module, _, qualname = path.partition(":")
    try:
        obj: object = importlib.import_module(module)
        for part in qualname.split(".") if qualname else ():
            obj = getattr(obj, part)
    except Exception as exc:  # a module's import may fail in any way: report, don't crash
        raise PipelineError(f"cannot import {kind} '{path}': {type(exc).__name__}: {exc}"
                            ) from None
    except SystemExit as exc:  # a script's `sys.exit()` at import must not end llmkit silently
        raise PipelineError(f"cannot import {kind} '{path}': importing it called "
                            f"sys.exit({exc.code!r}); a module that a pipeline uses must not "
                            "exit when imported") from None
    return obj
