"""Preparing a plan's resources before its nodes read them: a corpus ingests what changed in
its source (`llmkit_prepare()`), in a worker thread, so that fingerprints only read and the
event loop never waits on an ingest."""

from __future__ import annotations

import functools
from typing import Any

import anyio.to_thread

from llmkit.core.plan import Plan
from llmkit.errors import NodeError

__all__ = ["prepare_resources", "resources", "unprepared"]


def resources(plan: Plan) -> list[tuple[str, Any]]:
    """(first node holding it, resource) for each resource among the nodes' params."""
    holders: dict[int, tuple[str, Any]] = {}
    for plan_node in plan.nodes:
        for value in plan_node.node.params.values():
            if _preparable(type(value)):
                holders.setdefault(id(value), (plan_node.name, value))
    return list(holders.values())


def unprepared(holders: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Those with work left: one whose `llmkit_prepared` is true is skipped, so a fresh
    corpus costs a run no thread hop."""
    return [(name, r) for name, r in holders if not getattr(r, "llmkit_prepared", False)]


async def prepare_resources(holders: list[tuple[str, Any]]) -> None:
    """Prepare what `unprepared(holders)` lists, in one worker thread; a resource that fails
    raises a NodeError naming the first node that holds it."""
    todo = unprepared(holders)
    if todo:
        await anyio.to_thread.run_sync(_prepare, todo)


@functools.lru_cache(maxsize=256)
def _preparable(kind: type) -> bool:
    """Whether values of type `kind` are resources to prepare (cached: runs ask per param)."""
    return callable(getattr(kind, "llmkit_prepare", None))


def _prepare(holders: list[tuple[str, Any]]) -> None:
    for name, resource in holders:
        try:
            resource.llmkit_prepare()
        except Exception as exc:
            raise NodeError(name, exc) from exc
