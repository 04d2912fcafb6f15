"""The `type:` a pipeline file gives a node or a resource so that it loads back: the name the
file was loaded with while it still names the same thing; a short name that a plugin or the
library registers; else a `module:QualName` path (loaded with `--allow-import`). `@node`
functions are written as `module:function`. What no file can name is refused with the reason.

Nothing here imports: a name is checked against the modules already imported.
"""

from __future__ import annotations

import sys
from typing import Any

from llmkit.core.node import FunctionNode, Node
from llmkit.core.registry import NODE_TYPES, RESOURCE_TYPES, type_name_of
from llmkit.errors import PipelineError
from llmkit.spec.catalog import origin
from llmkit.spec.resources import ResourceSpec

__all__ = ["decorated", "import_path", "node_type", "resource_type"]

_MISSING = object()


def node_type(node: Node, what: str, written: Any = None) -> str:
    """The type name of `node` in a pipeline file; `written` is the name it was loaded with."""
    target = node.fn if isinstance(node, FunctionNode) else type(node)
    if isinstance(written, str) and _names(written, target, NODE_TYPES):
        return written
    if not isinstance(node, FunctionNode):
        registered = type_name_of(type(node))
        if ":" not in registered and origin(registered) is not None:
            return registered
    return import_path(target, what)


def resource_type(spec: ResourceSpec, what: str, written: Any = None) -> str:
    """The type name of a resource built from `spec` in a pipeline file."""
    if written == spec.type or ":" in spec.type or origin(spec.type, resource=True) is not None:
        return spec.type
    factory = RESOURCE_TYPES.get(spec.type, _MISSING)
    if factory is _MISSING:  # unregistered since it was built: the name is all there is
        return spec.type
    return import_path(factory, what)


def import_path(obj: Any, what: str) -> str:
    """`module:QualName` of a class or function, if importing that path gives it back."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    shown = qualname or repr(obj)
    if not module or not qualname or "<" in qualname:
        kind = "a lambda" if qualname and "<lambda>" in qualname else \
            "defined inside a function" if qualname else "not a named class or function"
        raise PipelineError(
            f"{what}: {shown} is {kind}, which a pipeline file cannot name: define it at the "
            "top level of a module (docs/extending.md)")
    if module == "__main__":
        raise PipelineError(
            f"{what}: {shown} is defined in __main__ (the script or notebook being run), which "
            "a pipeline file cannot import: move it into a module, or make it a plugin "
            "(docs/extending.md)")
    path = f"{module}:{qualname}"
    if not _names(path, obj, {}):
        raise PipelineError(
            f"{what}: {path} does not name it (that name now holds something else), so a "
            "pipeline file cannot name it")
    return path


def decorated(fn: Any) -> FunctionNode | None:
    """The `@node` that decorated `fn` where it is defined, if one did."""
    found = _at(f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', '')}")
    return found if isinstance(found, FunctionNode) and found.fn is fn else None


def _names(name: str, target: Any, table: Any) -> bool:
    """Whether the type name `name` names `target` now: a registered short name, or a path
    into a module already imported (a `@node` function's path may name its node)."""
    if ":" not in name:
        return table.get(name) is target
    obj = _at(name)
    return obj is target or (isinstance(obj, FunctionNode) and obj.fn is target)


def _at(path: str) -> Any:
    """What a `module:Qual.Name` path holds in the modules imported so far."""
    module, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module, _MISSING)
    for part in qualname.split(".") if qualname else ():
        obj = getattr(obj, part, _MISSING)
    return obj
