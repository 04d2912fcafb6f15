"""Resources: objects built once and shared by nodes (an index, an embedder, an API client).

A resource is described by a registered type name and params (`ResourceSpec`), so a pipeline
file can declare it under `resources:` and `dump_pipeline` can write it back. Objects
built by `resource()` (or by loading a pipeline file) remember their spec; `spec_of(obj)`
returns it, which is how a node param holding the object is written as `$name`.

    index = resource("vector_index", name="index", path=".llmkit/index")
    p.add("search", Search(index=index, k=4), vector="embed.vector")

A factory (resource or node class) names the params that hold a file or folder in its
`path_params` attribute (`Corpus.path_params = ("path", "source")`): in a pipeline file
those are relative to the file's folder (`place`), see docs/yaml.md, "Paths".
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmkit.spec.catalog import lookup_resource

__all__ = ["ResourceSpec", "path_params", "place", "remember", "resource", "spec_of"]


@dataclass(frozen=True)
class ResourceSpec:
    """How a resource is built: `lookup_resource(type)(**params)`, known as `name`."""

    name: str
    type: str
    params: Mapping[str, Any] = field(default_factory=dict)


# id(object) -> (a reference to it, its spec); an entry leaves when its object dies.
_SPECS: dict[int, tuple[Any, ResourceSpec]] = {}


def resource(type: str, /, *, name: str | None = None, allow_import: bool = False,
             **params: Any) -> Any:
    """Build a resource of a registered `type` for a Python-built pipeline, so that
    `dump_pipeline` declares it under `resources:` (as `name`, default the type name)."""
    factory = lookup_resource(type, allow_import=allow_import)
    obj = factory(**params)
    remember(obj, ResourceSpec(name or type.rpartition(":")[2], type, params))
    return obj


def spec_of(obj: Any) -> ResourceSpec | None:
    """The spec `obj` was built from, or None when it was not built as a resource."""
    entry = _SPECS.get(id(obj))
    if entry is None:
        return None
    ref, spec = entry
    target = ref() if isinstance(ref, weakref.ref) else ref
    return spec if target is obj else None


_PLAIN = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict)


def remember(obj: Any, spec: ResourceSpec) -> None:
    """Record that `obj` was built from `spec` (for as long as `obj` lives)."""
    if isinstance(obj, _PLAIN):  # plain data is written as itself, never as `$name`
        return
    key = id(obj)
    try:
        ref: Any = weakref.ref(obj)
        weakref.finalize(obj, _SPECS.pop, key, None)
    except TypeError:  # not weak-referenceable (rare): keep it alive with its spec
        ref = obj
    _SPECS[key] = (ref, spec)


def path_params(factory: Callable[..., Any]) -> frozenset[str]:
    """The params of `factory` that name a file or folder: its `path_params` attribute."""
    return frozenset(getattr(factory, "path_params", ()))


def place(value: str, folder: str | None) -> str:
    """The path `value` (`~` expanded) taken from `folder`; a relative one stays relative,
    to the current directory, when `folder` is None."""
    value = os.path.expanduser(value)
    if folder is None or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(folder, value))
