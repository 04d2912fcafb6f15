"""The node contract: named input ports, named output ports, static params, and one of two
methods that do the work.

A node subclasses `Node`, declares `inputs` and `outputs` (port name → type; a `@node`
function's come from its annotations), takes its params in `__init__`, and implements

- `run(**inputs) -> dict` — one item at a time, or
- `run_batch(items: list[dict]) -> list[dict]` — a micro-batch of items of many concurrent
  runs, returning one output dict per item, same length and order.

An output dict that is an `Uncached` is passed on like any other but never stored.

Either may be `async def`. Sync methods run in a worker thread, or in the event loop when
their measured work is shorter than a thread hop (`inline=True` or `False` decides it).
Optional input ports are listed in `defaults` with the value they take when nothing is
wired to them. Port types are checked once, when a pipeline is validated, where both ends of
a wire declare one (`core/ports.py` has the rule); values are never checked at run time.

Per-node `Settings` (batch size, wait, concurrency, retry, timeout, cache) have class-level
defaults (`settings = Settings(max_batch=256)`, or a class attribute named like the setting:
`max_batch = 256`), merged field by field over the parent class's; they can be overridden per
instance with `node.configure(...)`, and from YAML. A class that defines neither `run` nor
`run_batch` is refused at definition, unless declared `class Base(Node, abstract=True)`.

A node's `fingerprint` identifies what it computes: its type, `version`, and params minus
secrets (params named like `api_key`). Resources among the params (an index, a model client)
contribute through their `llmkit_fingerprint()`, so a cache misses after an index changes.
A fingerprint only reads: a resource with work to do before it is read (a corpus ingesting its
source) defines `llmkit_prepare()`, which a run calls first, in a worker thread.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmkit.core.checks import AT_LEAST_1, NON_NEGATIVE, POSITIVE, Check, boolean, optional
from llmkit.core.paths import located
from llmkit.core.ports import function_ports
from llmkit.core.retry import Retry
from llmkit.secrets import without_secrets

__all__ = ["FunctionNode", "Node", "Retry", "Settings", "Uncached", "node"]


class Uncached(dict[str, Any]):
    """Outputs a node passes on but asks not to be cached: a result made despite a passing
    failure (an agent's answer after a tool timed out), which a re-run should compute again.
    `return Uncached(answer=...)` instead of a plain dict; everything else treats it as one."""


@dataclass(frozen=True)
class Settings:
    """How the scheduler treats a node. `None` means "the node kind's default".

    - max_batch: items per `run_batch` call;
    - max_wait_ms: the longest a partial batch waits for company, from its first item: for
      runs on their way to the node, or for the end of its call in flight;
    - concurrency: calls in flight at once (default 64 for async nodes, 4 for sync ones);
    - retry: the `Retry` policy; timeout: seconds per call;
    - cache: whether results are cached (default: on when the node is deterministic);
    - cache_ttl: seconds a cached result lives;
    - inline: run a sync node in the event loop itself (True), in a worker thread (False),
      or by its measured work (None, the default: inline once it proves shorter than a hop).

    A `Settings(...)` remembers the fields it was given (`explicit()`): a node class's
    settings override its parent's in exactly those fields, even one given its default value.
    """

    max_batch: int = 32
    max_wait_ms: float = 20.0
    concurrency: int | None = None
    retry: Retry = field(default_factory=Retry)
    timeout: float | None = None
    cache: bool | None = None
    cache_ttl: float | None = None
    inline: bool | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Settings:
        self = super().__new__(cls)
        positional = [f.name for f in dataclasses.fields(cls)][:len(args)]
        object.__setattr__(self, "_given", frozenset(positional).union(kwargs))
        return self

    def explicit(self) -> dict[str, Any]:
        """The fields given to the constructor (`dataclasses.replace` gives all of them)."""
        return {name: getattr(self, name) for name in self._given}  # type: ignore[attr-defined]


#: per setting: whether a value is valid, and what a valid value is
_SETTING_CHECKS: dict[str, Check] = {
    "max_batch": AT_LEAST_1,
    "max_wait_ms": NON_NEGATIVE,
    "concurrency": optional(AT_LEAST_1),
    "retry": (lambda v: isinstance(v, Retry), "a Retry"),
    "timeout": optional(POSITIVE),
    "cache": optional(boolean()),
    "cache_ttl": optional(POSITIVE),
    "inline": optional(boolean()),
}


def _check_settings(owner: str, settings: Mapping[str, Any]) -> None:
    """Raise a TypeError naming `owner.setting` for an unknown setting or a wrong value."""
    for name, value in settings.items():
        if name not in _SETTING_CHECKS:
            from llmkit.errors import did_you_mean

            raise TypeError(f"unknown node setting '{name}' for {owner}"
                            f"{did_you_mean(name, _SETTING_CHECKS)}")
        valid, expected = _SETTING_CHECKS[name]
        if not valid(value):
            raise TypeError(f"{owner}.{name} must be {expected}, not {value!r}")


def _class_settings(cls: type[Node]) -> Settings:
    """`cls`'s settings: its parent's, overridden by the fields its body sets, in a
    `settings = Settings(...)` or as class attributes named like settings (removed from the
    class, so `settings` is the one place to read them)."""
    own = cls.__dict__.get("settings")
    if own is not None and not isinstance(own, Settings):
        raise TypeError(f"{cls.__name__}.settings must be a Settings, not {own!r}")
    changes = own.explicit() if own is not None else {}
    for name in _SETTING_CHECKS:
        if name in cls.__dict__:
            if name in changes:
                raise TypeError(f"{cls.__name__} sets {name} twice, in settings and as a "
                                "class attribute: keep one")
            changes[name] = cls.__dict__[name]
            delattr(cls, name)
    _check_settings(cls.__name__, changes)
    inherited = super(cls, cls).settings
    return dataclasses.replace(inherited, **changes) if changes else inherited


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(Node, name)


class Node:
    """Base class of every node; see the module docstring for the contract."""

    # Ports, declared on the class; a node whose ports depend on its params (a function
    # node, an aggregate of named sources) sets them on the instance in `__init__`.
    inputs: Mapping[str, Any] = {}
    outputs: Mapping[str, Any] = {}
    defaults: Mapping[str, Any] = {}
    version: str = "1"
    settings: Settings = Settings()
    #: False for nodes whose output is not a function of their input (sampling LLMs).
    deterministic: bool = True
    #: True for a routing node: it returns only some of its output ports, and the ports it
    #: leaves out are skipped for that run (docs/control-flow.md).
    partial_outputs: bool = False
    #: True for a join: any of its inputs may be skipped; those are left out of the call.
    optional_inputs: bool = False
    #: Params that name a file or folder: relative to the pipeline file's folder in YAML, and
    #: a file's content, not its place, in the fingerprint (`core/paths.py`).
    path_params: tuple[str, ...] = ()

    _params: dict[str, Any]

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs: Any) -> None:
        """Merge the class's settings over its parent's; refuse a class that cannot run
        (`abstract=True` marks a base class that leaves `run`/`run_batch` to subclasses)."""
        super().__init_subclass__(**kwargs)
        cls.settings = _class_settings(cls)
        if not abstract and not (_overrides(cls, "run") or _overrides(cls, "run_batch")):
            raise TypeError(f"{cls.__name__} must define run(self, **inputs) or "
                            "run_batch(self, items)")

    def __new__(cls, *args: Any, **kwargs: Any) -> Node:
        # Record the constructor's arguments (with defaults applied) as the node's params,
        # so fingerprints and YAML round-trips never depend on attribute naming conventions.
        self = super().__new__(cls)
        if cls.__init__ is object.__init__:
            self._params = {}
            return self
        signature = inspect.signature(cls.__init__)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        self._params = {
            name: value for name, value in list(bound.arguments.items())[1:]
            if signature.parameters[name].kind not in variadic
        }
        return self

    # -- the work ------------------------------------------------------------------------
    def run(self, **inputs: Any) -> dict[str, Any]:
        """Compute the outputs of one item."""
        raise NotImplementedError(f"{type(self).__name__} implements neither run nor run_batch")

    def run_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Compute the outputs of a micro-batch of items, same length and order."""
        raise NotImplementedError

    # -- description ---------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """The constructor arguments this node was built with (defaults applied)."""
        return dict(self._params)

    @property
    def type_name(self) -> str:
        """Short registry name when registered, else `module:QualName`."""
        from llmkit.core.registry import type_name_of

        return type_name_of(type(self))

    def is_batch(self) -> bool:
        """Whether the scheduler calls `run_batch` (else `run`); a node whose mode depends on
        its params (a generator with a batch-capable or a per-request model) overrides it."""
        return _overrides(type(self), "run_batch")

    def accepts_input(self, port: str) -> bool:
        """Whether `port`, which `inputs` lacks, may be wired: True for a node whose ports are
        the names it is wired with (aggregate, coalesce, route). It only answers: the wiring
        is the pipeline's, so one node may serve two pipelines."""
        return False

    def input_type(self, port: str) -> Any:
        """The declared type of input `port`, for the build-time check (`core/ports.py`): its
        `inputs` entry, else `Any` (a port `accepts_input` took)."""
        return self.inputs.get(port, Any)

    def is_async(self) -> bool:
        """Whether the method the scheduler calls is a coroutine function."""
        method = type(self).run_batch if self.is_batch() else type(self).run
        return inspect.iscoroutinefunction(method)

    def configure(self, **settings: Any) -> Node:
        """Override scheduler settings on this instance (`max_batch=256`, ...); returns self."""
        # A function node carries its function's __name__; other nodes, their class's.
        _check_settings(getattr(self, "__name__", type(self).__name__), settings)
        self.settings = dataclasses.replace(self.settings, **settings)
        return self

    @property
    def cacheable(self) -> bool:
        """Whether results are cached: the `cache` setting, else whether deterministic."""
        return self.settings.cache if self.settings.cache is not None else self.deterministic

    def describe(self) -> dict[str, Any]:
        """What identifies this node's computation: type (its registered name when it has one,
        so moving a node's module keeps its cache entries), version, params without secrets
        (a file named by a path param, by its content)."""
        return {
            "type": self.type_name,
            "version": self.version,
            "params": without_secrets(located(self._params, self.path_params)),
        }

    @property
    def fingerprint(self) -> bytes:
        """16-byte hash of `describe()`; resources contribute their own fingerprints, read
        anew each time, so an index that gained documents gives a new fingerprint."""
        from llmkit.cache.keys import hash_value

        return hash_value(self.describe())

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """A node used as a value (a param, a closure variable) is what it computes."""
        return self.describe()

    def __repr__(self) -> str:
        from llmkit.secrets import redact

        args = ", ".join(f"{k}={v!r}" for k, v in redact(self._params).items())
        return f"{type(self).__name__}({args})"


class FunctionNode(Node):
    """A node made from a function by `@node`; its parameters are its input ports."""

    def __init__(self, fn: Callable[..., Any], outputs: str | tuple[str, ...], batch: bool,
                 version: str) -> None:
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]
        self.fn = fn
        self.batch = batch
        self.single = isinstance(outputs, str)
        self._output_names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
        params = inspect.signature(fn).parameters.values()
        self.inputs, self.outputs = function_ports(fn, self._output_names, self.single, batch)
        self.defaults = {p.name: p.default for p in params if p.default is not p.empty}
        self._is_async = inspect.iscoroutinefunction(fn)
        self.version = version

    def is_batch(self) -> bool:
        return self.batch

    def is_async(self) -> bool:
        return self._is_async

    @property
    def type_name(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    def describe(self) -> dict[str, Any]:
        from llmkit.cache.keys import hash_function

        return {
            "type": self.type_name,
            "version": self.version,
            # The body and what it reads (defaults, closure cells, constant globals): editing
            # the function or closing over another value invalidates its cached results.
            "code": hash_function(self.fn),
            "outputs": list(self._output_names),
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"node({self.fn.__qualname__})"

    # The scheduler calls these; they adapt the function's plain values to output dicts.
    def run(self, **inputs: Any) -> Any:  # type: ignore[override]
        if self._is_async:
            return self._arun(inputs)
        return self._wrap(self.fn(**inputs))

    async def _arun(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self._wrap(await self.fn(**inputs))

    def run_batch(self, items: list[dict[str, Any]]) -> Any:  # type: ignore[override]
        columns = {name: [item[name] for item in items] for name in items[0]} if items else {}
        if self._is_async:
            return self._arun_batch(columns, len(items))
        return self._unwrap_batch(self.fn(**columns), len(items))

    async def _arun_batch(self, columns: dict[str, list[Any]], n: int) -> list[dict[str, Any]]:
        return self._unwrap_batch(await self.fn(**columns), n)

    def _wrap(self, value: Any) -> dict[str, Any]:
        return {self._output_names[0]: value} if self.single else value

    def _unwrap_batch(self, value: Any, n: int) -> list[dict[str, Any]]:
        if self.single:
            return [{self._output_names[0]: v} for v in value]
        return [{name: value[name][i] for name in self._output_names} for i in range(n)]


def node(fn: Callable[..., Any] | None = None, *, outputs: str | tuple[str, ...] = "output",
         batch: bool = False, version: str = "1", **settings: Any) -> Any:
    """Make a node from a function; its parameters become input ports.

    `outputs="name"` (one output): the function returns the value itself. `outputs=("a",
    "b")`: it returns a dict with those keys. `batch=True`: each parameter receives a list
    (one element per item) and the function returns a list of values (one output) or a dict
    of lists. Scheduler settings (`max_batch=...`, `inline=True`, ...) may follow.
    """

    def make(f: Callable[..., Any]) -> FunctionNode:
        made = FunctionNode(f, outputs, batch, version)
        return made.configure(**settings) if settings else made  # type: ignore[return-value]

    return make(fn) if fn is not None else make
