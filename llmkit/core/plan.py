"""A compiled pipeline: its nodes in topological order, each knowing where its inputs come
from and who reads its outputs. `Pipeline.validate()` makes one; the runner and the scheduler
execute it, and need nothing else from the pipeline.

Routes (docs/control-flow.md). A node with `partial_outputs` (a `route`) returns only some
of its output ports; a port it leaves out is *skipped* for that run, and `skips` says which
nodes that skips in turn. The scheduler and `Pipeline.validate`'s coverage check share it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmkit.core.node import Node

__all__ = ["INPUT", "OMIT", "Plan", "PlanNode", "skips"]

INPUT = -1  # source index of a pipeline input
OMIT = object()  # an optional input left out of the call when its source is skipped


@dataclass(frozen=True)
class PlanNode:
    """A node as the scheduler sees it: where each input comes from, who comes next."""

    index: int
    name: str
    node: Node
    #: (input port, source node index or INPUT, source port or pipeline input name)
    sources: tuple[tuple[str, int, str], ...]
    defaults: Mapping[str, Any]
    successors: tuple[int, ...]
    n_upstream: int
    #: output ports that downstream nodes or pipeline outputs read
    needed: tuple[str, ...]
    #: (route node index, branch port) that must be taken for this node to run (`when:`)
    guards: tuple[tuple[int, str], ...] = ()
    #: whether a route upstream can skip it: only such nodes are checked on arrival
    conditional: bool = False
    #: wired input ports that may be skipped without skipping the node (they have a default,
    #: or the node takes `optional_inputs`): port -> its default, or `OMIT`
    optional: Mapping[str, Any] | None = None


def skips(pn: PlanNode, absent: Callable[[int, str], bool]) -> bool:
    """Whether node `pn` is skipped in a run where `absent(source index, port)` says which
    node outputs are skipped: when a guard is skipped, a required input's source is, or the
    sources of all its inputs are."""
    for src, port in pn.guards:
        if absent(src, port):
            return True
    optional = pn.optional or {}
    missing = 0
    for port, src, src_port in pn.sources:
        if src != INPUT and absent(src, src_port):
            if port not in optional:
                return True
            missing += 1
    return missing > 0 and missing == len(pn.sources)


@dataclass(frozen=True)
class Plan:
    """A validated pipeline in topological order."""

    name: str
    inputs: tuple[str, ...]
    nodes: tuple[PlanNode, ...]
    outputs: tuple[tuple[str, int, str], ...]  # (output name, source index or INPUT, port)
