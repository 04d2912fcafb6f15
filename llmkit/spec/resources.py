"""Resources: objects built once and shared by nodes (an index, an embedder, an API client).

A resource is described by a registered type name and params (`ResourceSpec`), so a pipeline
file can declare it under `resources:` and `dump_pipeline` can write it back. Objects
built by `resource()` (or by loading a pipeline file) remember their spec; `spec_of(obj)`
returns it, which is how a node param holding the object is written as `$name`.

    index = resource("vector_index", name="index", path=".llmkit/index")
    p.add("search", Search(index=index, k=4), vector="embed.vector")
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmkit.spec.catalog import lookup_resource

__all__ = ["ResourceSpec", "remember", "resource", "spec_of"]


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
