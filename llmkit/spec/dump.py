"""Writes a `Pipeline` as a pipeline file: what a person would write (params and settings
that differ from their defaults, keys the loaded file wrote), references as loaded, secrets
never in clear, resources declared under `resources:` and referred to as `$name`, paths
written to load back to the same place (`_Dumper.path_value`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

import yaml

from llmkit.core.node import FunctionNode, Node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError
from llmkit.secrets import REDACTED, is_secret_name
from llmkit.spec.catalog import function_factory, load_plugins, lookup_resource
from llmkit.spec.format import (
    CACHE_KEYS,
    DEFAULT_NAME,
    INPUT_TYPES,
    ORIGINS,
    RETRY_KEYS,
    SCALAR_SETTINGS,
    SPEC_VERSION,
    Ref,
    dotted,
    escape,
    parameters,
    same,
)
from llmkit.spec.names import decorated, node_type, resource_type
from llmkit.spec.resources import ResourceSpec, path_params, spec_of
from llmkit.spec.yaml import Path

__all__ = ["dump_pipeline"]


def dump_pipeline(p: Pipeline, *, base: str | os.PathLike[str] | None = None) -> str:
    """The pipeline as YAML: what a person would write (params and settings that differ from
    their defaults), with `${VAR}` references as loaded and other secrets as `***`. Types are
    written by names that load back (`llmkit.spec.names`); a type no file can name (defined in
    `__main__`, a lambda, a class or function defined inside a function) is an error. `base`
    is the folder of the file the text goes to (None: text, read from the current
    directory); a relative path that would mean another place there is written absolute."""
    load_plugins()  # the types of plugins are written by their short names
    return _Dumper(p, base).text()


class _Dumper:
    """One dump: the pipeline as plain data in the order a person writes it."""

    def __init__(self, p: Pipeline, base: str | os.PathLike[str] | None) -> None:
        self.p = p
        self.for_file = base is not None
        self.base = os.path.abspath(base if base is not None else os.curdir)
        self.origin = ORIGINS.get(p)
        self.resources: dict[str, Any] = {}  # written resources, by name
        self.names: dict[int, str] = {}  # id(spec) -> name written
        if self.origin:
            for name, spec in self.origin.resources.items():
                self.resource_name(spec, name)

    def written(self, path: Path) -> bool:
        return self.origin is not None and path in self.origin.doc.keys

    def written_value(self, path: Path) -> Any:
        """The value the loaded file gave at `path` (references expanded), else None."""
        if self.origin is None:
            return None
        if path in self.origin.raw:
            return self.origin.raw[path][1]
        value = self.origin.doc.data
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    def text(self) -> str:
        p = self.p
        out: dict[str, Any] = {"llmkit": SPEC_VERSION}
        if p.name != DEFAULT_NAME or self.written(("name",)):
            out["name"] = self.value(p.name, ("name",))
        if p.description or self.written(("description",)):
            out["description"] = self.value(p.description, ("description",))
        if p.inputs or self.written(("inputs",)):
            out["inputs"] = self.inputs()
        nodes = {name: self.node(name, node) for name, node in p.nodes.items()}
        if self.resources:
            out["resources"] = self.resources
        out["nodes"] = nodes
        outputs = p.output_map
        if self.written(("outputs",)) or outputs != _default_outputs(p):
            out["outputs"] = {k: self.value(v, ("outputs", k)) for k, v in outputs.items()}
        return yaml.dump(out, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True,
                         width=100)

    def inputs(self) -> Any:
        names = {id(t): n for n, t in INPUT_TYPES.items()}
        types = {k: v if isinstance(v, str) and v in INPUT_TYPES else names.get(id(v), "any")
                 for k, v in self.p.inputs.items()}
        if self.origin and self.origin.inputs_as_list and set(types.values()) <= {"any"}:
            return list(types)
        return types

    def node(self, name: str, node: Node) -> dict[str, Any]:
        path = ("nodes", name)
        written = self.written_value((*path, "type"))
        out: dict[str, Any] = {"type": self.value(node_type(node, f"node '{name}'", written),
                                                  (*path, "type"))}
        function = isinstance(node, FunctionNode)
        known = parameters(function_factory(node.fn, decorated(node.fn)) if function
                           else type(node))
        defaults = {p.name: p.default for p in known[0]} if known else {}
        given = {k: v for k, v in node.params.items() if not (function and k == "fn")}
        paths = path_params(type(node))
        params = {k: self.path_value(v, (*path, "params", k)) if k in paths
                  else self.value(v, (*path, "params", k), is_secret_name(k))
                  for k, v in given.items()
                  if k not in defaults or defaults[k] is inspect.Parameter.empty
                  or not same(v, defaults[k]) or self.written((*path, "params", k))}
        if params or self.written((*path, "params")):
            out["params"] = params
        if self.p.wiring[name] or self.written((*path, "inputs")):
            out["inputs"] = {port: self.value(source, (*path, "inputs", port))
                             for port, source in self.p.wiring[name].items()}
        guards = self.p.guards.get(name, [])
        if guards:  # `when: route.branch`, or a list of them
            out["when"] = self.value(guards[0] if len(guards) == 1 else guards, (*path, "when"))
        out.update(self.settings(node, path))
        return out

    def settings(self, node: Node, path: Path) -> dict[str, Any]:
        """The settings keys for `node`: those that differ from its class's or were written."""
        now, default = node.settings, type(node).settings
        out: dict[str, Any] = {}
        for key in SCALAR_SETTINGS:
            if getattr(now, key) != getattr(default, key) or self.written((*path, key)):
                out[key] = self.value(getattr(now, key), (*path, key))
        if now.retry.on != default.retry.on:
            raise PipelineError(f"node '{path[1]}': retry.on lists exception classes, which a "
                                "pipeline file cannot express")
        retry = {k: self.value(getattr(now.retry, k), (*path, "retry", k)) for k in RETRY_KEYS
                 if getattr(now.retry, k) != getattr(default.retry, k)
                 or self.written((*path, "retry", k))}
        if retry or self.written((*path, "retry")):
            out["retry"] = retry
        at = (*path, "cache")
        changed = (now.cache, now.cache_ttl) != (default.cache, default.cache_ttl)
        if now.cache_ttl is None and not any(self.written((*at, k)) for k in CACHE_KEYS):
            if changed or self.written(at):
                out["cache"] = self.value(now.cache, at)  # `cache: true|false|null`
        elif changed or self.written(at):
            cache: dict[str, Any] = {}
            if now.cache is not True or self.written((*at, "enabled")):
                cache["enabled"] = self.value(now.cache, (*at, "enabled"))
            if now.cache_ttl is not None or self.written((*at, "ttl")):
                cache["ttl"] = self.value(now.cache_ttl, (*at, "ttl"))
            out["cache"] = cache
        return out

    def value(self, value: Any, path: Path, secret: bool = False) -> Any:
        """`value` as YAML data: references as loaded, secrets hidden, `$` escaped,
        resources as `$name`."""
        raw = self.origin.raw.get(path) if self.origin else None
        if raw is not None and same(raw[1], value):
            return raw[0]
        if isinstance(value, Ref):
            return f"${value.name}"
        if secret and value is not None and not isinstance(value, (dict, list, tuple)):
            return REDACTED
        if isinstance(value, str):
            return escape(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, (list, tuple)):
            return [self.value(v, (*path, i), secret) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            bad = [k for k in value if not isinstance(k, (str, int, float, bool))]
            if bad:
                raise PipelineError(f"{dotted(path)}: a mapping key of type "
                                    f"{type(bad[0]).__name__} has no YAML form")
            return {k: self.value(v, (*path, k), secret or is_secret_name(str(k)))
                    for k, v in value.items()}
        spec = spec_of(value)
        if spec is not None:
            return f"${self.resource_name(spec)}"
        raise PipelineError(
            f"{dotted(path)}: a {type(value).__name__} has no YAML form; build it with "
            "llmkit.spec.resource(...) so that it is declared under resources:")

    def resource_name(self, spec: ResourceSpec, name: str | None = None) -> str:
        """The name `spec` is written under, writing its entry the first time."""
        if id(spec) in self.names:
            return self.names[id(spec)]
        name = name or spec.name
        taken = set(self.names.values())
        base, n = name, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        self.names[id(spec)] = name
        self.resources[name] = None  # keeps declaration order while params are converted
        path = ("resources", name)
        kind = resource_type(spec, f"resource '{name}'", self.written_value((*path, "type")))
        paths = path_params(lookup_resource(spec.type, allow_import=True))  # built: imported
        self.resources[name] = {"type": self.value(kind, (*path, "type")), **{
            k: self.path_value(v, (*path, k)) if k in paths
            else self.value(v, (*path, k), is_secret_name(k)) for k, v in spec.params.items()}}
        return name

    def path_value(self, value: Any, path: Path) -> Any:
        """A path param written to mean the same place when read from `self.base`: as the
        file wrote it when that is its folder (or the path is absolute, `~` or a `${VAR}`),
        else, for a file, relative to its folder when near it (`_near`), else absolute. A
        relative path not from a file's folder is the current directory's."""
        written = self.origin.places.get(path) if self.origin else None
        if written is not None and self.origin is not None:
            here = self.origin.base is not None and _same_folder(self.origin.base, self.base)
            if here or os.path.isabs(os.path.expanduser(written)):
                return self.value(written, path)
        elif self.origin is not None and path in self.origin.raw:
            return self.value(value, path)  # `${VAR}`: as loaded, from the working directory
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            return self.value(value, path)
        if not self.for_file:  # text, read from the working directory: as placed or given
            return self.value(value, path)
        return self.value(_near(os.path.abspath(os.path.expanduser(value)), self.base), path)


NEAR = 2  # a path at most this many folders up from a file's folder is written relative


def _near(target: str, folder: str) -> str:
    """`target` (absolute) relative to `folder` when it is inside it or at most `NEAR`
    folders up (`../docs`: a moved or copied project keeps its paths), else absolute."""
    try:
        relative = os.path.relpath(target, folder)
    except ValueError:  # another drive
        return target
    parts = relative.split(os.sep)
    ups = next((i for i, part in enumerate(parts) if part != os.pardir), len(parts))
    return target if ups > NEAR else relative.replace(os.sep, "/")


def _same_folder(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _default_outputs(p: Pipeline) -> dict[str, str]:
    """The outputs `p` would have without an `outputs` declaration."""
    bare = Pipeline(inputs=p.inputs)
    for name, node in p.nodes.items():
        bare.add(name, node)
    for name, wiring in p.wiring.items():
        for port, source in wiring.items():
            bare.connect(source, f"{name}.{port}")  # not add(**wiring): a port may be "name"
    return bare.output_map


class _YamlDumper(yaml.SafeDumper):
    """Block style with short plain collections inline; multi-line text as `|` blocks;
    no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _inline(items: list[Any]) -> bool:
    """Whether a collection reads best on one line: short, plain, one-line scalars."""
    scalars = all(v is None or isinstance(v, (bool, int, float))
                  or (isinstance(v, str) and "\n" not in v) for v in items)
    return scalars and sum(len(str(v)) + 2 for v in items) < 80


def _represent_dict(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data,
                                    flow_style=_inline([*data, *data.values()]))


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=_inline(data))


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data,
                                   style="|" if "\n" in data else None)


_YamlDumper.add_representer(dict, _represent_dict)
_YamlDumper.add_representer(list, _represent_list)
_YamlDumper.add_representer(str, _represent_str)
