"""Pipelines: named nodes, their wiring, pipeline inputs and outputs, validated as a DAG.

Wiring names a source for each input port: a pipeline input (`"question"`) or another
node's output (`"embed.vector"`). Validation happens once, before the first run, never per
value; it compiles the pipeline into an immutable `Plan` that the scheduler executes.
"""

from __future__ import annotations

import heapq
import inspect
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from llmkit.core.node import Node
from llmkit.core.plan import INPUT, OMIT, Plan, PlanNode
from llmkit.core.ports import mismatch
from llmkit.core.routes import check_coverage
from llmkit.errors import (
    CycleError,
    DuplicateNodeError,
    DuplicateSourceError,
    InputError,
    PipelineError,
    PortTypeError,
    UnknownNodeError,
    UnknownPortError,
    UnwiredInputError,
    did_you_mean,
)

if TYPE_CHECKING:
    from os import PathLike

    import networkx as nx

    from llmkit.cache.stores.base import CacheStore
    from llmkit.core.events import Event
    from llmkit.core.stats import Profile

__all__ = ["Pipeline"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _check_name(kind: str, name: str, **at: str) -> None:
    """Refuse a name that is not an identifier (`at`: the error's fields)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise PipelineError(
            f"invalid {kind} name {name!r}: use letters, digits, '_' or '-', not starting "
            "with a digit (a '.' separates a node from its port)", **at)


class Pipeline:
    """A DAG of named nodes. Build with `add`/`connect`/`outputs`, run with `run*`."""

    def __init__(self, name: str = "pipeline", inputs: Iterable[str] | Mapping[str, Any] = (),
                 *, description: str = "") -> None:
        self.name = name
        self.description = description
        self.inputs: dict[str, Any] = (
            dict(inputs) if isinstance(inputs, Mapping) else {i: Any for i in inputs})
        for input_name in self.inputs:
            _check_name("pipeline input", input_name)
        self.nodes: dict[str, Node] = {}
        self.wiring: dict[str, dict[str, str]] = {}
        self.guards: dict[str, list[str]] = {}  # node -> "route.branch"es it runs only on
        self._outputs: dict[str, str] | None = None
        self._plan: Plan | None = None

    # -- building ------------------------------------------------------------------------
    def add(self, name: str, node: Node, /, **wiring: str) -> Pipeline:
        """Add `node` as `name`, wiring its input ports: `port="source"`; returns self."""
        _check_name("node", name)
        if name in self.nodes:
            raise DuplicateNodeError(f"a node named '{name}' is already in the pipeline",
                                     node=name)
        if not isinstance(node, Node):
            raise PipelineError(f"node '{name}' is a {type(node).__name__}, not an llmkit Node"
                                f"{_not_a_node_hint(node)}", node=name)
        for port in (*node.inputs, *node.outputs):  # ports set per instance come from params
            _check_name(f"node '{name}' port", port, node=name)
        self.nodes[name] = node
        self.wiring[name] = {}
        for port, source in wiring.items():
            self.connect(source, f"{name}.{port}")
        self._plan = None
        return self

    def connect(self, source: str, target: str) -> Pipeline:
        """Wire `source` ("input" or "node.port") into `target` ("node.port"); returns self."""
        node_name, _, port = target.partition(".")
        if node_name not in self.nodes:
            raise UnknownNodeError(
                f"cannot wire into '{target}': no node '{node_name}'"
                f"{did_you_mean(node_name, self.nodes)}", node=node_name, port=port)
        node = self.nodes[node_name]
        if port not in node.inputs and not node.accepts_input(port):
            raise UnknownPortError(
                f"node '{node_name}' has no input port '{port}'{did_you_mean(port, node.inputs)}"
                f"; its inputs are: {', '.join(node.inputs) or 'none'}", node=node_name,
                port=port)
        if port in self.wiring[node_name]:
            raise DuplicateSourceError(
                f"input '{target}' is wired twice: from '{self.wiring[node_name][port]}' "
                f"and from '{source}'", node=node_name, port=port)
        if not isinstance(source, str):
            raise PipelineError(f"the source of '{target}' must be a string, not {source!r}",
                                node=node_name, port=port)
        self.wiring[node_name][port] = source
        self._plan = None
        return self

    def when(self, name: str, /, *branches: str) -> Pipeline:
        """Run node `name` only in runs where every one of `branches` ("route.branch") is
        taken; the branch passes no value (docs/control-flow.md); returns self."""
        if name not in self.nodes:
            raise UnknownNodeError(f"cannot guard '{name}': no node '{name}'"
                                   f"{did_you_mean(name, self.nodes)}", node=name)
        for branch in branches:
            if not isinstance(branch, str) or branch in self.guards.get(name, ()):
                raise PipelineError(f"node '{name}': when: {branch!r} is not a new "
                                    "'route.branch' string", node=name)
            self.guards.setdefault(name, []).append(branch)
        self._plan = None
        return self

    def outputs(self, /, **mapping: str) -> Pipeline:
        """Declare the pipeline's outputs: `answer="generate.answer"`; returns self."""
        for output_name in mapping:
            _check_name("output", output_name, output=output_name)
        self._outputs = dict(mapping)
        self._plan = None
        return self

    @property
    def output_map(self) -> dict[str, str]:
        """Declared outputs, or by default every output port of every sink node."""
        if self._outputs is not None:
            return dict(self._outputs)
        sinks = [n for n in self.nodes if not any(
            src.partition(".")[0] == n for w in self.wiring.values() for src in w.values())]
        ports = [(n, p) for n in sinks for p in self.nodes[n].outputs]
        unique = len({p for _, p in ports}) == len(ports)
        return {(p if unique else f"{n}.{p}"): f"{n}.{p}" for n, p in ports}

    # -- validation ----------------------------------------------------------------------
    def _resolve(self, source: str, where: str = "", **at: str) -> tuple[int | str, str]:
        """(node name or INPUT, port) for a source reference, or a clear error; `at` names
        what reads it: `node=` and `port=` (an input port), or `output=`; `where` says it
        in the message instead."""
        where = where or (f"output '{at['output']}'" if "output" in at else
                          f"input '{at['node']}.{at['port']}'")
        if "." not in source:
            if source in self.inputs:
                return INPUT, source
            choices = list(self.inputs) + [f"{n}.{p}" for n, node in self.nodes.items()
                                           for p in node.outputs]
            raise UnknownNodeError(
                f"{where} reads '{source}', which is neither a pipeline input nor a node "
                f"output{did_you_mean(source, choices)}", **at)
        node_name, _, port = source.partition(".")
        if node_name not in self.nodes:
            raise UnknownNodeError(
                f"{where} reads '{source}', but there is no node '{node_name}'"
                f"{did_you_mean(node_name, self.nodes)}", **at)
        outputs = self.nodes[node_name].outputs
        if port not in outputs:
            raise UnknownPortError(
                f"{where} reads '{source}', but node '{node_name}' has no output '{port}'"
                f"{did_you_mean(port, outputs)}; its outputs are: {', '.join(outputs) or 'none'}",
                **at)
        return node_name, port

    def _guards(self) -> dict[str, list[tuple[str, str]]]:
        """Each guarded node's (route, branch) pairs; refuses a guard that names no branch
        of a route."""
        resolved: dict[str, list[tuple[str, str]]] = {}
        for name, branches in self.guards.items():
            for branch in branches:
                src, port = self._resolve(branch, f"node '{name}' (when:)", node=name,
                                          port="when")
                if src == INPUT or not self.nodes[src].partial_outputs:  # type: ignore[index]
                    raise PipelineError(
                        f"node '{name}': when: '{branch}' is not a route's branch; name a "
                        "branch of a route node, as 'route.branch'", node=name, port="when")
                resolved.setdefault(name, []).append((src, port))  # type: ignore[arg-type]
        return resolved

    def _edges(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """Node-to-node edges in wiring order, each with its (source port, target port)s."""
        edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for name, wiring in self.wiring.items():
            for port, source in wiring.items():
                src, src_port = self._resolve(source, node=name, port=port)
                if src != INPUT:
                    edges.setdefault((src, name), []).append((src_port, port))  # type: ignore[arg-type]
        return edges

    @property
    def graph(self) -> nx.DiGraph:
        """The nodes and their edges (`ports` attribute: list of (source port, target port)),
        as a networkx graph (imported here: validation does not need it)."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for (src, dst), ports in self._edges().items():
            g.add_edge(src, dst, ports=ports)
        return g

    def _check_types(self) -> None:
        """Refuse a wire whose source's declared type does not fit its target port's."""
        for name, wiring in self.wiring.items():
            target = self.nodes[name]
            for port, source in wiring.items():
                src, src_port = self._resolve(source, node=name, port=port)
                given = self.inputs if src == INPUT else self.nodes[src].outputs  # type: ignore[index]
                problem = mismatch(source, given[src_port], f"{name}.{port}",
                                   target.input_type(port))
                if problem:
                    raise PortTypeError(problem, node=name, port=port)

    def validate(self) -> Plan:
        """Check the pipeline (wiring, cycles, port types) and compile it; raises a
        `PipelineError` subclass naming the node and port at fault."""
        if self._plan is not None:
            return self._plan
        if not self.nodes:
            raise PipelineError("the pipeline has no nodes: add at least one (p.add(name, "
                                "node) in Python, an entry under 'nodes:' in a file)")
        for name, node in self.nodes.items():
            for port in node.inputs:
                if port not in self.wiring[name] and port not in node.defaults:
                    raise UnwiredInputError(
                        f"input '{name}.{port}' is required but nothing is wired to it",
                        node=name, port=port)
        edges = self._edges()
        guards = self._guards()
        successors: dict[str, list[str]] = {name: [] for name in self.nodes}
        for src, dst in edges:
            successors[src].append(dst)
        for dst, pairs in guards.items():
            for src, _ in pairs:
                if dst not in successors[src]:
                    successors[src].append(dst)
                    edges.setdefault((src, dst), [])
        cycle = _find_cycle(successors)
        if cycle:
            path = " -> ".join([*cycle, cycle[0]])
            last, first = cycle[-1], cycle[0]  # the wired input that closes it is at fault
            closing = edges[last, first]  # empty for a guard (`when:`)
            raise CycleError(f"the pipeline has a cycle: {path}", node=first,
                             port=closing[0][1] if closing else "when")
        self._check_types()
        outputs = self.output_map
        resolved_outputs = {k: self._resolve(v, output=k) for k, v in outputs.items()}
        order = _topological_order(successors)
        index = {name: i for i, name in enumerate(order)}
        needed: dict[str, set[str]] = {name: set() for name in order}
        for src, port in resolved_outputs.values():
            if src != INPUT:
                needed[src].add(port)  # type: ignore[index]
        n_upstream = dict.fromkeys(order, 0)
        for (u, v), ports in edges.items():
            needed[u].update(p for p, _ in ports)
            n_upstream[v] += 1
        plan_nodes: list[PlanNode] = []
        for name in order:
            node = self.nodes[name]
            sources = []
            for port, source in self.wiring[name].items():
                src, src_port = self._resolve(source, node=name, port=port)
                sources.append((port, INPUT if src == INPUT else index[src], src_port))
            node_guards = tuple((index[s], p) for s, p in guards.get(name, ()))
            conditional = bool(node_guards) or any(
                src != INPUT and (plan_nodes[src].conditional
                                  or plan_nodes[src].node.partial_outputs)
                for _, src, _ in sources)
            plan_nodes.append(PlanNode(
                index=index[name], name=name, node=node, sources=tuple(sources),
                defaults={k: v for k, v in node.defaults.items() if k not in self.wiring[name]},
                successors=tuple(sorted(index[s] for s in successors[name])),
                n_upstream=n_upstream[name],
                # a route returns only its chosen branch: the others are skipped, not missing
                needed=() if node.partial_outputs else tuple(sorted(needed[name])),
                guards=node_guards, conditional=conditional,
                optional=_optional(node, self.wiring[name]) if conditional else None))
        plan = Plan(
            name=self.name, inputs=tuple(self.inputs), nodes=tuple(plan_nodes),
            outputs=tuple((k, INPUT if s == INPUT else index[s], p)  # type: ignore[index]
                          for k, (s, p) in resolved_outputs.items()))
        check_coverage(plan)
        self._plan = plan
        return plan

    # -- running -------------------------------------------------------------------------
    def run(self, inputs: Mapping[str, Any] | None = None, /, *,
            cache: CacheStore | None = None, profile: Profile | None = None,
            on_event: Callable[[Event], None] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Run once and return the outputs; raises `NodeError` when a node fails.
        `profile=` a `Profile` to fill; `on_event=` a callback given every `Event` of the run
        (docs/observability.md)."""
        from llmkit.core import background

        return background.call(self.arun, self._one("run", inputs, kwargs), cache=cache,
                               profile=profile, on_event=on_event)

    async def arun(self, inputs: Mapping[str, Any] | None = None, /, *,
                   cache: CacheStore | None = None, profile: Profile | None = None,
                   on_event: Callable[[Event], None] | None = None,
                   **kwargs: Any) -> dict[str, Any]:
        """Async `run`."""
        from llmkit.core import runner

        return await runner.run_one(self.validate(), self._one("arun", inputs, kwargs),
                                    cache=cache, profile=profile, on_event=on_event)

    def run_many(self, inputs: Iterable[Mapping[str, Any]], executor: Any = None,
                 **options: Any) -> list[Any]:
        """Run every input, micro-batched and concurrently; results in input order.

        Options: `on_error="raise"` (default) or `"return"` (a failed run's place holds its
        `NodeError`), `cache=` a cache store, `window=` runs in flight (default 1024),
        `profile=` a `Profile` to fill with per-node statistics, `progress=True` a progress
        bar on stderr (when it is a terminal), `on_event=` a callback given every `Event` of
        the runs (docs/observability.md). An `executor` (e.g.
        `llmkit.dask.DaskExecutor`) runs them elsewhere: `executor.run_many(self, ...)`.
        """
        if executor is not None:
            return executor.run_many(self, inputs, **options)
        from llmkit.core import background

        return background.call(self.arun_many, inputs, **options)

    async def arun_many(self, inputs: Iterable[Mapping[str, Any]], **options: Any) -> list[Any]:
        """Async `run_many`."""
        from llmkit.core import runner

        return await runner.collect(self.validate(), inputs, **options)

    def iter_many(self, inputs: Iterable[Mapping[str, Any]], *, ordered: bool = True,
                  executor: Any = None, **options: Any) -> Iterator[Any]:
        """Stream results of many runs with flat memory: in input order, or as completed
        (`ordered=False`, yielding `(index, result)` pairs); `executor` and the options as in
        `run_many`."""
        if executor is not None:
            return executor.iter_many(self, inputs, ordered=ordered, **options)
        from llmkit.core import runner

        return runner.iterate(self.validate(), inputs, ordered=ordered, **options)

    @asynccontextmanager
    async def astream_many(self, inputs: Iterable[Mapping[str, Any]] | Any, *,
                           ordered: bool = True, **options: Any) -> AsyncIterator[Any]:
        """`async with p.astream_many(inputs) as results: async for r in results: ...`"""
        from llmkit.core import runner

        async with runner.stream(self.validate(), inputs, ordered=ordered,
                                 **options) as results:
            yield results

    async def astream(self, inputs: Mapping[str, Any] | None = None, /, *,
                      cache: CacheStore | None = None, **kwargs: Any) -> AsyncIterator[Event]:
        """Run once, yielding events as they happen (node started/finished, tokens); the last
        event (`kind="result"`) carries the outputs."""
        from llmkit.core import runner

        async for event in runner.events(self.validate(), self._one("astream", inputs, kwargs),
                                         cache=cache):
            yield event

    def _one(self, method: str, inputs: Mapping[str, Any] | None,
             kwargs: dict[str, Any]) -> dict[str, Any]:
        """One run's inputs: the mapping and the keyword arguments, merged; anything else
        than a mapping is an `InputError` that shows both ways to pass them."""
        if inputs is not None and not isinstance(inputs, Mapping):
            name = next(iter(self.inputs), "name")
            raise InputError(f"{method}() takes the run's inputs as a mapping, not a "
                             f"{type(inputs).__name__}: write p.{method}({{{name!r}: ...}}) "
                             f"or p.{method}({name}=...)")
        merged = dict(inputs or {})
        merged.update(kwargs)
        return merged

    # -- pictures ------------------------------------------------------------------------
    def draw(self, path: str | PathLike[str] | None = None, *, format: str | None = None,
             profile: Profile | None = None) -> str | bytes:
        """The pipeline as a picture: svg (the default), png (extra `draw`), html, mermaid or
        dot, or as `path`'s suffix says; written to `path` at once when given. With
        `profile=`, each node shows its figures of that run (docs/observability.md)."""
        from llmkit.draw import pipeline_diagram, save

        self.validate()
        types = {name: node.type_name for name, node in self.nodes.items()}
        stats, wall = (None, 0.0) if profile is None else (profile.nodes, profile.wall_seconds)
        routes = [name for name, node in self.nodes.items() if node.partial_outputs]
        return save(pipeline_diagram(self.name, self.inputs, types, self.wiring,
                                     self.output_map, stats, wall, routes=routes,
                                     guards=self.guards), path, format)

    def _repr_svg_(self) -> str | None:
        """A notebook shows the pipeline as a picture (as text when it is invalid)."""
        try:
            return self.draw()  # type: ignore[return-value]
        except PipelineError:
            return None

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, nodes={list(self.nodes)})"


def _optional(node: Node, wiring: Mapping[str, str]) -> dict[str, Any]:
    """The wired inputs of `node` that may be skipped without skipping it: every one for a
    join (`optional_inputs`: left out of the call), else those with a default (given it)."""
    if node.optional_inputs:
        return dict.fromkeys(wiring, OMIT)
    return {port: node.defaults[port] for port in wiring if port in node.defaults}


def _not_a_node_hint(value: Any) -> str:
    """How to make a node of what was given in its place: a function or a node class."""
    if isinstance(value, type) and issubclass(value, Node):
        return f": pass an instance, {value.__name__}(...)"
    if inspect.isroutine(value):
        return f": decorate {value.__name__} with @node (from llmkit import node) to make one"
    return ""


def _find_cycle(successors: Mapping[str, list[str]]) -> list[str] | None:
    """The nodes of the first cycle a depth-first walk meets (nodes and edges in order, as
    networkx's `find_cycle` reports it), starting at the node the closing edge enters."""
    visited: set[str] = set()
    for root in successors:
        if root in visited:
            continue
        visited.add(root)
        path, on_path, stack = [root], {root}, [iter(successors[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                on_path.discard(path.pop())
            elif nxt in on_path:
                return path[path.index(nxt):]
            elif nxt not in visited:
                visited.add(nxt)
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(successors[nxt]))
    return None


def _topological_order(successors: Mapping[str, list[str]]) -> list[str]:
    """Nodes of an acyclic graph in topological order; ties go to the node added first."""
    position = {name: i for i, name in enumerate(successors)}
    waiting = dict.fromkeys(successors, 0)
    for targets in successors.values():
        for target in targets:
            waiting[target] += 1
    ready = [position[name] for name, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    names, order = list(successors), []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for target in successors[name]:
            waiting[target] -= 1
            if not waiting[target]:
                heapq.heappush(ready, position[target])
    return order
