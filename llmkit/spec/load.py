"""Pipeline files: `load_pipeline` reads YAML into a `Pipeline` (`dump.dump_pipeline` writes one).

Loading is safe: plain data only (no tags, no imports unless allowed), every error a
`PipelineError` whose message starts with `file:line:column:` and names the key at fault.
Strings may refer to the environment (`${VAR}`, `${VAR:-default}`, `$$` for a `$`; a
secret-named variable only under a secret-named key), and param values to resources
(`$name`), which are built once per loaded pipeline when the first node that uses them is
built. Params that name a file or folder (a factory's `path_params`) are relative to the
pipeline file's folder, unless they start with an environment variable's value, which is
relative to the current directory as in a shell. A loaded pipeline remembers how it was
written, so dumping it gives back the same file (references as written, secrets never in
clear). docs/yaml.md is the reference for the format.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

import yaml

from llmkit.core.node import Node, Settings
from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError, SpecError, did_you_mean
from llmkit.secrets import is_secret_name
from llmkit.spec.catalog import allowing_imports, lookup, lookup_resource
from llmkit.spec.format import (
    BOOL,
    CACHE_KEYS,
    INPUT_TYPES,
    NODE_KEYS,
    ORIGINS,
    REFERENCE,
    RESOURCE_REF,
    RETRY_KEYS,
    SCALAR_SETTINGS,
    SETTING_KEYS,
    SPEC_VERSION,
    TOP_KEYS,
    VARIABLE,
    Check,
    Origin,
    Ref,
    dotted,
    optional,
    parameters,
    same,
    scrub,
)
from llmkit.spec.resources import ResourceSpec, path_params, place, remember
from llmkit.spec.yaml import Doc, Path, ScalarError, parse, plain_scalar

__all__ = ["MAX_FILE_BYTES", "SPEC_VERSION", "load_pipeline", "loading_env", "scrub_secrets"]

MAX_FILE_BYTES = 2**20  # 1 MiB: PyYAML reads ~0.4 MB/s, and a file's values are capped anyway


def load_pipeline(path_or_text: str | bytes | os.PathLike[str], *, allow_import: bool = False,
                  env: Mapping[str, str] = os.environ) -> Pipeline:
    """Read a pipeline from a file path, or from YAML text (bytes, or a str that holds a
    newline or starts with `{`) of at most `MAX_FILE_BYTES`. Raises `SpecError`/
    `PipelineError` located in the file, or `OSError` when the file cannot be read."""
    base = None  # text: relative paths stay relative to the current directory
    if isinstance(path_or_text, bytes) or (isinstance(path_or_text, str) and (
            "\n" in path_or_text or path_or_text.lstrip().startswith("{"))):
        text, file = path_or_text, "<string>"
    else:
        file = os.fspath(path_or_text)
        base = os.path.dirname(os.path.abspath(file))
        with open(file, "rb") as f:  # a bounded read: /dev/zero or a FIFO cannot grow memory
            text = f.read(MAX_FILE_BYTES + 1)
    if len(text) > MAX_FILE_BYTES:
        raise SpecError(f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB, the limit for "
                        "a pipeline file (keep large data such as documents or examples in "
                        "files that a node reads)", file=file)
    token = _env.set(env)
    try:
        with allowing_imports(allow_import):
            return _Loader(parse(text, file), allow_import=allow_import, env=env,
                           base=base).pipeline()
    finally:
        _env.reset(token)


_env: ContextVar[Mapping[str, str]] = ContextVar("llmkit_loading_env", default=os.environ)


def loading_env() -> Mapping[str, str]:
    """The `env` of the pipeline file being loaded, for the files it names that are loaded
    in turn (an agent's pipeline tools): they see the same variables."""
    return _env.get()


def scrub_secrets(p: Pipeline, text: str) -> str:
    """`text` with the secret values a loaded pipeline's file brought in replaced by ***."""
    origin = ORIGINS.get(p)
    return scrub(text, origin.secrets) if origin else text


def _kind(value: Any) -> str:
    """What a value is, for messages; never shows a string (it might be a secret)."""
    if isinstance(value, Ref):
        return f"the resource reference '${value.name}'"
    if value is None or isinstance(value, (bool, int, float)):
        return yaml.safe_dump(value, default_flow_style=True).splitlines()[0]
    names: dict[type, str] = {str: "a string", list: "a list", dict: "a mapping"}
    return names.get(type(value), type(value).__name__)


_URL_AUTHORITY_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*")


def _in_url_userinfo(raw: str, match: re.Match[str], path: Path) -> bool:
    """Whether the reference `match` stands in the user info of a URL under a `*url` key
    (`base_url: "http://me:${LLM_PASSWORD}@host/v1"`): HTTP backends move that part into an
    Authorization header, so it reaches no fingerprint, repr or message."""
    key = path[-1] if path else None
    return (isinstance(key, str) and key.lower().endswith("url")
            and _URL_AUTHORITY_START.fullmatch(raw, 0, match.start()) is not None
            and "@" in re.split(r"[/?#]", raw[match.end():], maxsplit=1)[0])


class _Loader:
    """One load: interpolates the parsed file, builds resources, nodes and wiring."""

    def __init__(self, doc: Doc, *, allow_import: bool, env: Mapping[str, str],
                 base: str | None) -> None:
        self.doc = doc
        self.allow_import = allow_import
        self.env = env
        self.base = base  # the file's folder, which its relative paths start from
        self.raw: dict[Path, tuple[str, Any]] = {}
        self.from_env: set[Path] = set()  # values that start with an environment variable's
        self.places: dict[Path, str] = {}  # path params that `place` moved, as written
        self.secrets: set[str] = set()
        self.declared: dict[str, ResourceSpec] = {}
        self.built: dict[str, Any] = {}
        self.building: list[str] = []

    # -- errors ----------------------------------------------------------------------------
    def error(self, path: Path, message: str, *, key: bool = False,
              cls: type[PipelineError] = SpecError) -> PipelineError:
        """A located error of class `cls`, with every known secret scrubbed."""
        located = self.doc.error(path, scrub(message, self.secrets), key=key)
        if cls is SpecError:
            return located
        error = cls(str(located))
        error.file, error.line, error.column = located.file, located.line, located.column  # type: ignore[attr-defined]
        return error

    def relocate(self, exc: PipelineError, path: Path, *, key: bool = False) -> PipelineError:
        """`exc` (raised by the graph or the catalog) located at `path`, same class and
        fields."""
        error = self.error(path, str(exc), key=key, cls=type(exc))
        error.node, error.port, error.output = exc.node, exc.port, exc.output
        return error

    def expect(self, value: Any, path: Path, kind: type | tuple[type, ...], what: str) -> Any:
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (
                kind if isinstance(kind, tuple) else (kind,))):
            hint = " (write $$ for a literal '$'; a $name reference may only be a param value)" \
                if isinstance(value, Ref) else ""
            raise self.error(path, f"{dotted(path)}: expected {what}, not {_kind(value)}{hint}")
        return value

    def mapping(self, value: Any, path: Path, allowed: tuple[str, ...] | None = None,
                ) -> dict[str, Any]:
        """`value` as a mapping with string keys, each one of `allowed` when given."""
        self.expect(value, path, dict, "a mapping")
        for key in value:
            if not isinstance(key, str):
                raise self.error((*path, key), f"{dotted(path)}: key {_kind(key)} is not a "
                                               "name", key=True)
            if allowed is not None and key not in allowed:
                raise self.error((*path, key), f"{dotted(path)}: unknown key '{key}'"
                                               f"{did_you_mean(key, allowed)}; expected one "
                                               f"of: {', '.join(allowed)}", key=True)
        return value

    # -- interpolation ---------------------------------------------------------------------
    def interpolate(self, value: Any, path: Path, secret: bool) -> Any:
        """`value` with `${VAR}` expanded in every string and `$name` strings as `Ref`."""
        if isinstance(value, dict):
            return {k: self.interpolate(v, (*path, k),
                                        secret or (isinstance(k, str) and is_secret_name(k)))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.interpolate(v, (*path, i), secret) for i, v in enumerate(value)]
        if isinstance(value, str):
            value = self.expand(value, path, secret)
        if secret and value is not None and not isinstance(value, Ref):
            self.secrets.add(str(value))  # scrubbed from every message from now on
        return value

    def expand(self, raw: str, path: Path, secret: bool) -> Any:
        if "$" not in raw:
            return raw
        if RESOURCE_REF.fullmatch(raw):
            return Ref(raw[1:])
        pieces: list[str] = []
        end = 0
        for match in REFERENCE.finditer(raw):
            pieces.append(raw[end:match.start()])
            end = match.end()
            if match["dollar"]:
                pieces.append("$")
                continue
            text, from_env = self.variable(match, path,
                                           secret or _in_url_userinfo(raw, match, path))
            if from_env and not "".join(pieces):
                self.from_env.add(path)
            pieces.append(text)
        pieces.append(raw[end:])
        text = "".join(pieces)
        whole = REFERENCE.fullmatch(raw)
        # A value that is one reference takes the type its text has in YAML (`${K:-4}` is 4),
        # except a secret, which stays a string.
        try:
            value = plain_scalar(text) if whole and whole["body"] is not None and not secret \
                else text
        except ScalarError as exc:
            raise self.error(path, f"{dotted(path)}: the value of {raw} {exc}") from None
        self.raw[path] = (raw, value)
        return value

    def variable(self, match: re.Match[str], path: Path, secret: bool) -> tuple[str, bool]:
        """The text of one `${NAME}`/`${NAME:-default}`, and whether it is the environment's
        (not the default, not empty). A secret-named variable is refused
        outside a secret key (or a URL's user info, see `_in_url_userinfo`): there its value
        would be printed, cached and logged in clear."""
        variable = VARIABLE.fullmatch(match["body"]) if match["close"] else None
        if variable is None:
            raise self.error(path, f"{dotted(path)}: bad reference: write ${{NAME}} or "
                                   "${NAME:-default} (and $$ for a literal '$')")
        name, default = variable["name"], variable["default"]
        if is_secret_name(name) and not secret:
            raise self.error(path, f"{dotted(path)}: ${{{name}}} is a secret (by its name), "
                                   "and this is not a secret key, so the value would be "
                                   "printed, logged and cached in clear: pass it under a "
                                   "secret-named key such as api_key, token or password")
        value = self.env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise self.error(path, f"{dotted(path)}: environment variable '{name}' is "
                                       f"not set (write ${{{name}:-default}} to give a default)")
            return default, False
        if is_secret_name(name):
            self.secrets.add(value)
        return value, value != ""

    # -- the file --------------------------------------------------------------------------
    def pipeline(self) -> Pipeline:
        data = self.doc.data
        if not isinstance(data, dict):
            raise self.error((), f"a pipeline file is a mapping that starts with 'llmkit: "
                                 f"{SPEC_VERSION}', not {_kind(data)}")
        if "llmkit" not in data:
            raise self.error((), f"missing the format version: start the file with 'llmkit: "
                                 f"{SPEC_VERSION}'")
        version = data["llmkit"]
        if not same(version, SPEC_VERSION):
            raise self.error(("llmkit",), f"llmkit: unsupported format version {_kind(version)}"
                                          f"; this llmkit reads version {SPEC_VERSION}")
        data = self.mapping(self.interpolate(data, (), False), (), TOP_KEYS)
        if "nodes" not in data:
            raise self.error((), "missing 'nodes': a pipeline needs a 'nodes' mapping")
        inputs = self.inputs(data.get("inputs", {}))
        header = {key: self.expect(data[key], (key,), str, "a string")
                  for key in ("name", "description") if key in data}
        try:
            p = Pipeline(inputs=inputs, **header)
        except PipelineError as exc:
            raise self.relocate(exc, ("inputs",)) from None
        for name, spec in self.mapping(data.get("resources", {}), ("resources",)).items():
            self.declare(name, spec)
        nodes = self.mapping(data["nodes"], ("nodes",))
        for name, spec in nodes.items():
            self.add_node(p, name, spec)
        for name, spec in nodes.items():
            for port, source in spec.get("inputs", {}).items():
                path = ("nodes", name, "inputs", port)
                self.expect(source, path, str, "a source ('input' or 'node.port')")
                try:
                    p.connect(source, f"{name}.{port}")
                except PipelineError as exc:
                    raise self.relocate(exc, path, key=True) from None
            if "when" in spec:
                self.when(p, name, spec["when"])
        if "outputs" in data:
            outputs = self.mapping(data["outputs"], ("outputs",))
            for key, source in outputs.items():
                self.expect(source, ("outputs", key), str, "a source ('node.port')")
            try:
                p.outputs(**outputs)
            except PipelineError as exc:
                raise self.relocate(exc, self.at_fault(p, exc), key=True) from None
            except TypeError as exc:  # an output named like a parameter of `outputs()`
                raise self.error(("outputs",), f"outputs: {exc}", key=True) from None
        try:
            p.validate()
        except PipelineError as exc:
            raise self.relocate(exc, self.at_fault(p, exc), key=True) from None
        ORIGINS[p] = Origin(
            doc=self.doc, raw=self.raw, secrets=frozenset(self.secrets),
            resources=self.declared, inputs_as_list=isinstance(data.get("inputs"), list),
            base=self.base, places=self.places)
        return p

    def when(self, p: Pipeline, name: str, value: Any) -> None:
        """`when: route.branch` (or a list of them): the node runs only on those branches."""
        path = ("nodes", name, "when")
        branches = [value] if isinstance(value, str) else self.expect(
            value, path, list, "a branch ('route.branch') or a list of them")
        for i, branch in enumerate(branches):
            self.expect(branch, (*path, i) if branches is value else path, str,
                        "a branch ('route.branch')")
        try:
            p.when(name, *branches)
        except PipelineError as exc:
            raise self.relocate(exc, path) from None

    def inputs(self, value: Any) -> dict[str, Any]:
        if isinstance(value, list):
            return {self.expect(v, ("inputs", i), str, "an input name"): Any
                    for i, v in enumerate(value)}
        types = {}
        for name, type_name in self.mapping(value, ("inputs",)).items():
            self.expect(type_name, ("inputs", name), str, "a type name")
            if type_name not in INPUT_TYPES:
                raise self.error(("inputs", name), f"inputs.{name}: unknown type '{type_name}'"
                                                   f"{did_you_mean(type_name, INPUT_TYPES)}; "
                                                   f"use one of: {', '.join(INPUT_TYPES)}")
            types[name] = INPUT_TYPES[type_name]
        return types

    def at_fault(self, p: Pipeline, exc: PipelineError) -> Path:
        """The entry the error's fields name: an output, a wired input port, or a node."""
        if exc.output is not None:
            return ("outputs", exc.output)
        if exc.node in p.guards and exc.port == "when" and "when" not in p.wiring[exc.node]:
            return ("nodes", exc.node, "when")
        if exc.node in p.nodes:
            wired = exc.port is not None and exc.port in p.wiring[exc.node]
            return ("nodes", exc.node, "inputs", exc.port) if wired else ("nodes", exc.node)
        return ("nodes",)

    # -- resources -------------------------------------------------------------------------
    def declare(self, name: str, spec: Any) -> None:
        path = ("resources", name)
        spec = self.mapping(spec, path)
        if "type" not in spec:
            raise self.error(path, f"resources.{name}: missing 'type' (a registered resource "
                                   "type)", key=True)
        type_name = self.expect(spec["type"], (*path, "type"), str, "a resource type name")
        self.declared[name] = ResourceSpec(
            name, type_name, {k: v for k, v in spec.items() if k != "type"})

    def resolve(self, value: Any, path: Path) -> Any:
        """`value` with each `$name` replaced by the built resource."""
        if isinstance(value, Ref):
            return self.resource(value.name, path)
        if isinstance(value, dict):
            return {k: self.resolve(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def resource(self, name: str, used_at: Path) -> Any:
        """The resource `name`, built on first use."""
        if name in self.built:
            return self.built[name]
        if name not in self.declared:
            declared = ", ".join(self.declared) or "none"
            raise self.error(used_at, f"{dotted(used_at)}: '${name}' names no resource"
                                      f"{did_you_mean(name, self.declared)} (declared under "
                                      f"resources: {declared}; write $$ for a literal '$')")
        path = ("resources", name)
        if name in self.building:
            loop = " -> ".join([*self.building[self.building.index(name):], name])
            raise self.error(path, f"resources refer to each other in a loop: {loop}", key=True)
        self.building.append(name)
        spec = self.declared[name]
        try:
            factory = lookup_resource(spec.type, allow_import=self.allow_import)
        except PipelineError as exc:
            raise self.relocate(exc, (*path, "type")) from None
        params = self.resolve(dict(spec.params), path)
        self.check_params(factory, params, path, path, f"resource '{name}' ({spec.type})")
        placed = self.place_paths(factory, spec.params, path)
        params.update(placed)
        # the spec says how the object was built, paths as placed (`dump` writes them back)
        spec = self.declared[name] = dataclasses.replace(spec, params={**spec.params, **placed})
        try:
            obj = factory(**params)
        except (Exception, SystemExit) as exc:  # any failure of a factory: this entry
            raise self.error(path, f"resource '{name}' ({spec.type}): cannot build it: "
                                   f"{type(exc).__name__}: {exc}", key=True) from None
        remember(obj, spec)
        self.building.pop()
        self.built[name] = obj
        return obj

    def place_paths(self, factory: Callable[..., Any], params: Mapping[str, Any],
                    at: Path) -> dict[str, str]:
        """The path params of `factory` (`path_params`) among `params` that `place` moves:
        from the file's folder, or the current directory for a value that starts with an
        environment variable's (`${PWD}/x`, `LLMKIT_DOCS=notes`), as a shell would."""
        placed = {}
        for key in path_params(factory) & params.keys():
            value = params[key]
            if isinstance(value, str):
                folder = None if (*at, key) in self.from_env else self.base
                placed[key] = place(value, folder)
                if placed[key] != value:
                    self.places[(*at, key)] = value
        return placed

    # -- nodes -----------------------------------------------------------------------------
    def check_params(self, factory: Callable[..., Any], params: dict[str, Any],
                     params_path: Path, owner_path: Path, what: str) -> None:
        """Unknown or missing params, named before the factory is called."""
        known = parameters(factory)
        if known is None:
            return
        accepted, takes_any = known
        names = [p.name for p in accepted]
        for key in params:
            if not takes_any and key not in names:
                raise self.error((*params_path, key), f"{what}: unknown param '{key}'"
                                                      f"{did_you_mean(key, names)}; its params "
                                                      f"are: {', '.join(names) or 'none'}",
                                 key=True)
        missing = [p.name for p in accepted if p.default is p.empty and p.name not in params]
        if missing:
            raise self.error(owner_path, f"{what}: missing required param "
                                         f"{', '.join(repr(m) for m in missing)}", key=True)

    def add_node(self, p: Pipeline, name: str, spec: Any) -> None:
        path = ("nodes", name)
        spec = self.mapping(spec, path, (*NODE_KEYS, *SETTING_KEYS))
        if "type" not in spec:
            raise self.error(path, f"nodes.{name}: missing 'type' (see `llmkit nodes`)",
                             key=True)
        type_name = self.expect(spec["type"], (*path, "type"), str, "a node type name")
        try:
            cls = lookup(type_name, allow_import=self.allow_import)
        except PipelineError as exc:
            raise self.relocate(exc, (*path, "type")) from None
        params = self.resolve(self.mapping(spec.get("params", {}), (*path, "params")),
                              (*path, "params"))
        what = f"node '{name}' ({type_name})"
        self.check_params(cls, params, (*path, "params"), path, what)
        params.update(self.place_paths(cls, params, (*path, "params")))
        self.mapping(spec.get("inputs", {}), (*path, "inputs"))
        try:
            node = cls(**params)
        except (Exception, SystemExit) as exc:  # a constructor may fail in any way
            raise self.error(path, f"{what}: cannot build it: {type(exc).__name__}: {exc}",
                             key=True) from None
        if not isinstance(node, Node):
            raise self.error((*path, "type"), f"{what}: '{type_name}' is not a node class")
        node.configure(**self.settings(spec, path, node.settings))
        try:
            p.add(name, node)
        except PipelineError as exc:
            raise self.relocate(exc, path, key=True) from None

    def settings(self, spec: dict[str, Any], path: Path, current: Settings) -> dict[str, Any]:
        """`node.configure(...)` arguments for the settings keys of a node entry."""
        out: dict[str, Any] = {}
        for key, check in SCALAR_SETTINGS.items():
            if key in spec:
                out[key] = self.check((*path, key), spec[key], check)
        if "retry" in spec:
            retry = self.mapping(spec["retry"], (*path, "retry"), tuple(RETRY_KEYS))
            out["retry"] = dataclasses.replace(current.retry, **{
                k: self.check((*path, "retry", k), v, RETRY_KEYS[k]) for k, v in retry.items()})
        if "cache" in spec:
            cache = spec["cache"]
            if not isinstance(cache, dict):
                out["cache"] = self.check((*path, "cache"), cache, optional(BOOL))
            else:
                cache = self.mapping(cache, (*path, "cache"), tuple(CACHE_KEYS))
                for key, check in CACHE_KEYS.items():
                    self.check((*path, "cache", key), cache.get(key), check)
                out["cache"] = cache.get("enabled", True)
                out["cache_ttl"] = cache.get("ttl")
        return out

    def check(self, path: Path, value: Any, check: Check) -> Any:
        if not check[0](value):
            raise self.error(path, f"{dotted(path)}: expected {check[1]}, not {_kind(value)}")
        return value
