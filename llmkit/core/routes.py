"""What `Pipeline.validate` checks about routes: that guards (`when:`) name a route's
branch, and that no combination of route choices leaves a pipeline output skipped."""

from __future__ import annotations

from itertools import product
from math import prod

from llmkit.core.plan import INPUT, Plan, skips
from llmkit.errors import PipelineError

__all__ = ["MAX_COMBINATIONS", "check_coverage"]

#: route choices enumerated at most; beyond, an output must not depend on any route
MAX_COMBINATIONS = 4096


def check_coverage(plan: Plan) -> None:
    """Refuse a plan where some choice of every route's branch leaves an output skipped; the
    error names the output and one such choice."""
    routes = [pn for pn in plan.nodes if pn.node.partial_outputs]
    if not routes:
        return
    branches = [tuple(pn.node.outputs) for pn in routes]
    if prod(len(b) for b in branches) > MAX_COMBINATIONS:
        _check_conservatively(plan)
        return
    for combination in product(*branches):
        chosen = {pn.index: branch for pn, branch in zip(routes, combination, strict=True)}
        skipped: set[int] = set()

        def absent(src: int, port: str) -> bool:
            return src in skipped or chosen.get(src, port) != port  # noqa: B023

        for pn in plan.nodes:
            if pn.conditional and skips(pn, absent):
                skipped.add(pn.index)
        for name, src, port in plan.outputs:
            if src != INPUT and absent(src, port):
                choice = ", ".join(f"{pn.name}={chosen[pn.index]}" for pn in routes
                                   if pn.index not in skipped)
                raise PipelineError(
                    f"output '{name}' reads '{plan.nodes[src].name}.{port}', which is skipped "
                    f"when {choice}: join the branches with a coalesce node, give the reading "
                    "input a default, or add a default branch (docs/control-flow.md)",
                    output=name)


def _check_conservatively(plan: Plan) -> None:
    """Too many combinations to enumerate: assume every route branch may be skipped, each
    independently of the others (a coarser check, which may refuse a correct join), and
    refuse an output that may then be skipped."""
    maybe: set[int] = set()

    def absent(src: int, port: str) -> bool:
        return src in maybe or plan.nodes[src].node.partial_outputs

    for pn in plan.nodes:
        if pn.conditional and skips(pn, absent):
            maybe.add(pn.index)
    for name, src, port in plan.outputs:
        if src != INPUT and absent(src, port):
            raise PipelineError(
                f"output '{name}' reads '{plan.nodes[src].name}.{port}', which may be "
                f"skipped: the routes have more than {MAX_COMBINATIONS} combinations of "
                "branches, too many to check one by one, and a coarser check cannot show "
                "that a branch always reaches it: give the reading input a default or split "
                "the pipeline", output=name)
