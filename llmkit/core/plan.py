"""A compiled pipeline: its nodes in topological order, each knowing where its inputs come
from and who reads its outputs. `Pipeline.validate()` makes one; the runner and the scheduler
execute it, and need nothing else from the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmkit.core.node import Node

__all__ = ["INPUT", "Plan", "PlanNode"]

INPUT = -1  # source index of a pipeline input


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


@dataclass(frozen=True)
class Plan:
    """A validated pipeline in topological order."""

    name: str
    inputs: tuple[str, ...]
    nodes: tuple[PlanNode, ...]
    outputs: tuple[tuple[str, int, str], ...]  # (output name, source index or INPUT, port)
