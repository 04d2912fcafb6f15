"""The control nodes: `route` sends a run down one branch, `coalesce` joins branches.

A route returns only the chosen branch's port (`partial_outputs`): the scheduler skips the
nodes that only the other branches reach, for that run (docs/control-flow.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmkit.core.node import Node, Settings
from llmkit.core.registry import register
from llmkit.nodes.control.expressions import compile_condition

__all__ = ["Coalesce", "Route"]


@register("route")
class Route(Node):
    """Send each run down the first branch whose condition holds, else `default`.

    `routes` maps a branch name to a condition over the inputs (a Jinja2 expression:
    `not hits or hits[0].score < 0.3`); the names the conditions read are input ports, and
    any other name wired in is one more. Each branch is an output port carrying the input
    (a dict of the inputs when there are several); the others are skipped for that run."""

    partial_outputs = True
    settings = Settings(inline=True, cache=False)  # a condition costs less than a look-up

    def __init__(self, routes: Mapping[str, str], default: str | None = None) -> None:
        if not isinstance(routes, Mapping) or not routes:
            raise ValueError("route needs 'routes': a mapping of branch name to condition")
        if default is not None and default in routes:
            raise ValueError(f"the default branch '{default}' is also a route: name it apart")
        self.default = default
        self._tests = []
        self.inputs = {}
        for branch, source in routes.items():
            test, names = compile_condition(source, f"route '{branch}'")
            self._tests.append((branch, test))
            self.inputs.update(dict.fromkeys(names, Any))
        self.outputs = dict.fromkeys([*routes, *([default] if default else [])], Any)

    def accepts_input(self, port: str) -> bool:
        """A port no condition reads is passed along with the others."""
        return port.isidentifier()

    def run(self, **inputs: Any) -> dict[str, Any]:
        value = next(iter(inputs.values())) if len(inputs) == 1 else inputs
        for branch, test in self._tests:
            try:
                taken = bool(test(**inputs))
            except Exception as exc:  # a condition that cannot be evaluated on these values
                raise ValueError(f"route '{branch}': the condition failed: "
                                 f"{type(exc).__name__}: {exc}") from None
            if taken:
                return {branch: value}
        if self.default is not None:
            return {self.default: value}
        kinds = ", ".join(f"{k}: {type(v).__name__}" for k, v in inputs.items())
        raise ValueError(f"no route matched and there is no default branch (inputs {kinds}); "
                         "give the route a 'default' branch")


@register("coalesce")
class Coalesce(Node):
    """Join branches: `value` is the first input, in wiring order, that a route did not
    skip; the node is skipped only when all are.

    Its input ports are the names it is wired with, in that order; `sources` fixes them."""

    outputs = {"value": Any}
    optional_inputs = True
    settings = Settings(inline=True, cache=False)

    def __init__(self, sources: Sequence[str] | None = None) -> None:
        if sources is not None and not sources:
            raise ValueError("coalesce needs at least one source port")
        self.sources = sources
        self.inputs = dict.fromkeys(sources or (), Any)

    def accepts_input(self, port: str) -> bool:
        """Without `sources`, every port wired in is one more branch."""
        return self.sources is None and port.isidentifier()

    def run(self, **values: Any) -> dict[str, Any]:
        """The first value in the order of `sources`, else of the wiring (the order the
        scheduler passes them; skipped ones are left out)."""
        for name in self.sources or values:
            if name in values:
                return {"value": values[name]}
        raise ValueError("coalesce has no input: wire at least one source into it")
